"""Request bodies over their limit: 413 problem+json, whether the size is announced
(Content-Length) or only found while streaming (chunked), read no further than the
limit, and nothing is created."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx

from backend.features.people.models import Person
from tests.conftest import ApiCaller
from tests.limits.conftest import (
    MAX_BODY_BYTES,
    MAX_UPLOAD_BYTES,
    Sessions,
    operation_count,
    row_count,
)

PEOPLE = "/api/v1/people"


def person(padding: int) -> bytes:
    """A valid person whose JSON is ``padding`` bytes longer than it needs to be."""
    return json.dumps({"name": "Sam Rivera", "email": None, "notes": "a" * padding}).encode()


class Unending:
    """A request body that never ends, counting what was read of it."""

    def __init__(self, start: bytes, chunk: bytes) -> None:
        self.start = start
        self.chunk = chunk
        self.sent = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        self.sent += len(self.start)
        yield self.start
        while True:
            self.sent += len(self.chunk)
            yield self.chunk


def assert_too_large(response: httpx.Response, code: str, limit: int) -> None:
    assert response.status_code == 413, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert (body["code"], body["max_bytes"]) == (code, limit)


async def test_a_json_body_within_the_limit_is_accepted(
    client: httpx.AsyncClient, admin: ApiCaller
) -> None:
    body = person(MAX_BODY_BYTES - 200)
    assert len(body) <= MAX_BODY_BYTES

    response = await client.post(
        PEOPLE, content=body, headers={**admin.headers, "Content-Type": "application/json"}
    )

    assert response.status_code == 201, response.text


async def test_an_announced_json_body_over_the_limit_is_refused_and_creates_nothing(
    client: httpx.AsyncClient, admin: ApiCaller, sessionmaker: Sessions
) -> None:
    body = person(MAX_BODY_BYTES)

    response = await client.post(
        PEOPLE, content=body, headers={**admin.headers, "Content-Type": "application/json"}
    )

    assert_too_large(response, "PAYLOAD_TOO_LARGE", MAX_BODY_BYTES)
    assert response.headers["x-request-id"]
    assert await row_count(sessionmaker, Person) == 0


async def test_a_chunked_json_body_is_cut_off_at_the_limit_without_being_read_whole(
    client: httpx.AsyncClient, admin: ApiCaller, sessionmaker: Sessions
) -> None:
    body = Unending(b'{"name": "Sam Rivera", "notes": "', b"a" * 1000)

    response = await client.post(
        PEOPLE, content=body, headers={**admin.headers, "Content-Type": "application/json"}
    )

    assert_too_large(response, "PAYLOAD_TOO_LARGE", MAX_BODY_BYTES)
    # Reading stopped at the first chunk past the limit.
    assert body.sent <= MAX_BODY_BYTES + len(body.chunk)
    assert await row_count(sessionmaker, Person) == 0


async def test_a_body_sent_to_an_operation_create_over_the_limit_creates_no_operation(
    client: httpx.AsyncClient, admin: ApiCaller, sessionmaker: Sessions
) -> None:
    response = await client.post(
        "/api/v1/sessions",
        content=Unending(b'{"role": "', b"x" * 700),
        headers={**admin.headers, "Content-Type": "application/json", "Prefer": "wait=5"},
    )

    assert_too_large(response, "PAYLOAD_TOO_LARGE", MAX_BODY_BYTES)
    assert await operation_count(sessionmaker) == 0


async def test_an_upload_has_its_own_larger_limit_on_the_whole_body(
    client: httpx.AsyncClient, admin: ApiCaller, sessionmaker: Sessions, storage: Path
) -> None:
    # Bigger than a JSON body may be, well within an upload's limit.
    accepted = await client.post(
        "/api/v1/documents",
        files={"file": ("notes.txt", b"Plain words. " * 1000, "text/plain")},
        headers=admin.headers,
    )
    # A part other than `file` is read past, not stored: it must not stream on forever.
    endless_field = Unending(
        b'--b\r\nContent-Disposition: form-data; name="other"\r\n\r\n', b"z" * 4096
    )
    refused = await client.post(
        "/api/v1/documents",
        content=endless_field,
        headers={**admin.headers, "Content-Type": "multipart/form-data; boundary=b"},
    )

    assert accepted.status_code == 202, accepted.text
    assert_too_large(refused, "UPLOAD_TOO_LARGE", MAX_UPLOAD_BYTES)
    assert endless_field.sent < MAX_UPLOAD_BYTES * 2
    assert await operation_count(sessionmaker) == 1
    assert list((storage / ".incoming").glob("*")) == []
