"""Malformed, oversized and contradictory headers: always a 4xx problem+json (or, for
preferences a server may ignore, the ordinary answer), never a 500."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest

from backend.config import Settings
from backend.features.people.models import Person
from backend.operations.registry import Registry
from tests.conftest import ApiCaller
from tests.factories import submit
from tests.limits.conftest import Sessions, limit_settings, operation_count, row_count

PROBLEM = "application/problem+json"
OPERATIONS = "/api/v1/operations"


@pytest.fixture
def settings(database_url: str, storage: Path) -> Settings:
    # Without the failure limit: every malformed Authorization below is one failure.
    return limit_settings(database_url, storage, auth={"max_failures": 0})


def raw(caller: ApiCaller, name: str, value: bytes) -> list[tuple[bytes, bytes]]:
    """The caller's headers and one more, sent as the bytes given."""
    return [
        *((k.encode(), v.encode()) for k, v in caller.headers.items()),
        (name.encode(), value),
    ]


def assert_problem(response: httpx.Response, *statuses: int) -> None:
    assert response.status_code in statuses, response.text
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["code"]


AUTHORIZATION = {
    "no scheme": b"opsapi_abcdef",
    "wrong scheme": b"Basic dXNlcjpwYXNzd29yZA==",
    "empty": b"",
    "scheme only": b"Bearer",
    "scheme and spaces": b"Bearer    ",
    "two keys": b"Bearer a b",
    "non-ASCII": "Bearer ключ-🔑".encode(),
    "latin-1": b"Bearer \xe9\xb2\xff",
    "NUL": b"Bearer abc\x00def",
    "long": b"Bearer " + b"k" * 20_000,
}


@pytest.mark.parametrize("value", AUTHORIZATION.values(), ids=AUTHORIZATION.keys())
async def test_a_malformed_authorization_is_401(client: httpx.AsyncClient, value: bytes) -> None:
    response = await client.get(OPERATIONS, headers=[(b"Authorization", value)])

    assert_problem(response, 401)
    assert response.headers["WWW-Authenticate"] == "Bearer"


IDEMPOTENCY_KEYS = {
    "empty": b"",
    "spaces": b"   ",
    "too long": b"k" * 5_000,
    "control characters": b"key\x01\x7f",
    "non-ASCII": "clé".encode(),
    "latin-1": b"cl\xe9",
    "an empty quoted string": b'""',
}


@pytest.mark.parametrize("value", IDEMPOTENCY_KEYS.values(), ids=IDEMPOTENCY_KEYS.keys())
async def test_an_invalid_idempotency_key_is_refused_and_creates_nothing(
    client: httpx.AsyncClient, caller: ApiCaller, sessionmaker: Sessions, value: bytes
) -> None:
    response = await client.post(
        "/api/v1/sessions",
        json={"role": "Backend engineer", "seniority": "senior", "topic": "System design"},
        headers=raw(caller, "Idempotency-Key", value),
    )

    assert_problem(response, 400, 422)
    assert response.json()["code"] == "INVALID_IDEMPOTENCY_KEY"


LAST_EVENT_IDS = [b"abc", b"-1", b"1.5", b"99999999999999999999", b"\xb2", b"\xb9\xb2", b"1" * 5000]


@pytest.mark.parametrize("value", LAST_EVENT_IDS)
async def test_an_invalid_last_event_id_is_422(
    client: httpx.AsyncClient,
    caller: ApiCaller,
    sessionmaker: Sessions,
    registry: Registry,
    value: bytes,
) -> None:
    op_id = await submit(
        sessionmaker, registry, caller, "document.extract", {"document_id": str(uuid.uuid4())}
    )
    operation = await client.get(
        f"{OPERATIONS}/{op_id}/events",
        headers=raw(caller, "Last-Event-ID", value),
    )
    document = await client.get(
        f"/api/v1/documents/{uuid.uuid4()}/events",
        headers=raw(caller, "Last-Event-ID", value),
    )

    assert_problem(operation, 422)
    assert_problem(document, 404, 422)


PREFERENCES = [
    b"wait=abc",
    b"wait=-1",
    b"wait",
    b"wait=",
    b"return=minimal, respond-async",
    b";;;,,,=",
    b"wait=1e9",
    b"\xff\xfe",
]


@pytest.mark.parametrize("value", PREFERENCES)
async def test_a_preference_the_server_cannot_honour_is_ignored(
    client: httpx.AsyncClient,
    caller: ApiCaller,
    sessionmaker: Sessions,
    registry: Registry,
    value: bytes,
) -> None:
    op_id = await submit(
        sessionmaker, registry, caller, "document.extract", {"document_id": str(uuid.uuid4())}
    )

    response = await client.get(
        f"{OPERATIONS}/{op_id}",
        headers=raw(caller, "Prefer", value),
    )

    # RFC 7240: a preference that is not understood is ignored, and not reported applied.
    assert response.status_code == 200, response.text
    assert "Preference-Applied" not in response.headers


IF_NONE_MATCH = [b"garbage", b'W/"', b",,,", b'"' * 3000, b"\xff", b"*, *"]


@pytest.mark.parametrize("value", IF_NONE_MATCH)
async def test_a_malformed_if_none_match_never_breaks_a_read(
    client: httpx.AsyncClient,
    caller: ApiCaller,
    sessionmaker: Sessions,
    registry: Registry,
    value: bytes,
) -> None:
    op_id = await submit(
        sessionmaker, registry, caller, "document.extract", {"document_id": str(uuid.uuid4())}
    )

    response = await client.get(
        f"{OPERATIONS}/{op_id}",
        headers=raw(caller, "If-None-Match", value),
    )

    assert response.status_code in (200, 304)


CONTENT_TYPES = {
    "text": b"text/plain",
    "form": b"application/x-www-form-urlencoded",
    "multipart": b"multipart/form-data; boundary=x",
    "XML": b"application/xml",
    "garbage": b";;;",
    "none": None,
}


@pytest.mark.parametrize("value", CONTENT_TYPES.values(), ids=CONTENT_TYPES.keys())
async def test_a_json_body_under_another_content_type_is_refused_and_creates_nothing(
    client: httpx.AsyncClient, admin: ApiCaller, sessionmaker: Sessions, value: bytes | None
) -> None:
    body = b'{"name": "Sam Rivera"}'
    headers = raw(admin, "Content-Type", value) if value is not None else admin.headers

    refused = await client.post("/api/v1/people", content=body, headers=headers)

    assert_problem(refused, 400, 415, 422)
    assert await row_count(sessionmaker, Person) == 0
    as_json = await client.post(
        "/api/v1/people",
        content=body,
        headers={**admin.headers, "Content-Type": "application/json"},
    )
    assert as_json.status_code == 201


async def test_a_document_upload_that_is_not_multipart_is_refused(
    client: httpx.AsyncClient, caller: ApiCaller, sessionmaker: Sessions
) -> None:
    response = await client.post(
        "/api/v1/documents",
        json={"file": "not a file"},
        headers=caller.headers,
    )

    assert_problem(response, 400, 415)
    assert await operation_count(sessionmaker) == 0


@pytest.mark.parametrize("value", [b"\x00\x01", b"x" * 10_000, b"\xff\xfe", b""])
async def test_a_malformed_request_id_is_replaced_by_a_generated_one(
    client: httpx.AsyncClient, caller: ApiCaller, value: bytes
) -> None:
    response = await client.get(
        OPERATIONS,
        headers=raw(caller, "X-Request-ID", value),
    )

    assert response.status_code == 200
    request_id = response.headers["X-Request-ID"]
    assert 0 < len(request_id) <= 64 and request_id.isascii() and request_id.isprintable()


async def test_headers_over_the_limit_are_431_before_anything_else(
    client: httpx.AsyncClient, caller: ApiCaller, settings: Settings
) -> None:
    limit = settings.limits.max_header_bytes
    one_huge = await client.get(OPERATIONS, headers={"Authorization": "Bearer " + "k" * limit})
    many = await client.get(
        OPERATIONS, headers={**caller.headers, **{f"X-Pad-{n}": "p" * 1000 for n in range(40)}}
    )
    within = await client.get(OPERATIONS, headers={**caller.headers, "X-Pad": "p" * 1000})

    assert_problem(one_huge, 431)
    assert_problem(many, 431)
    assert one_huge.json()["max_bytes"] == limit
    assert within.status_code == 200
