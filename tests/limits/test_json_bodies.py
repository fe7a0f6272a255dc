"""Hostile JSON: deep nesting, huge numbers and strings, invalid text. A 400 or 422
problem+json, never a 500 or a RecursionError, and nothing is created."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from backend.config import LimitSettings, Settings
from backend.features.people.models import Person
from tests.conftest import ApiCaller
from tests.limits.conftest import Sessions, limit_settings, operation_count, row_count

JSON = {"Content-Type": "application/json"}
# The default body limit, so that the nesting is as deep as a client can send.
MAX_BODY_BYTES = LimitSettings().max_body_bytes
DEPTH = 100_000

HOSTILE = {
    # Far deeper than the parser recurses, small enough to be under the limit.
    "nested arrays": b"[" * DEPTH + b"]" * DEPTH,
    "nested objects": b'{"a":' * DEPTH + b"1" + b"}" * DEPTH,
    "unclosed nesting": b"[" * (MAX_BODY_BYTES - 10),
    "nesting in a field": b'{"name": ' + b"[" * DEPTH + b"]" * DEPTH + b"}",
    "a huge integer": b'{"name": "Sam", "external_id": ' + b"9" * 4000 + b"}",
    "a huge float": b'{"name": 1e999999}',
    "NaN": b'{"name": NaN}',
    "Infinity": b'{"name": "Sam", "email": -Infinity}',
    "a string over its field's length": b'{"name": "' + b"x" * 3000 + b'"}',
    "invalid UTF-8": b'{"name": "\xff\xfe"}',
    "a lone surrogate": b'{"name": "\\ud800"}',
    "a NUL character": b'{"name": "Sam\\u0000Rivera"}',
    "not JSON": b"name=Sam",
    "an empty body": b"",
    "trailing garbage": b'{"name": "Sam"} {"name": "Kim"}',
    "a top-level string": b'"Sam"',
    "duplicate keys": b'{"name": "Sam", "name": ' + b"[" * DEPTH + b"]" * DEPTH + b"}",
}


@pytest.fixture
def settings(database_url: str, storage: Path) -> Settings:
    return limit_settings(database_url, storage, limits={"max_body_bytes": MAX_BODY_BYTES})


def test_the_hostile_bodies_fit_under_the_body_limit() -> None:
    assert max(len(body) for body in HOSTILE.values()) <= MAX_BODY_BYTES


@pytest.mark.parametrize("body", HOSTILE.values(), ids=HOSTILE.keys())
async def test_hostile_json_is_a_client_error_and_creates_nothing(
    client: httpx.AsyncClient, admin: ApiCaller, sessionmaker: Sessions, body: bytes
) -> None:
    response = await client.post("/api/v1/people", content=body, headers={**admin.headers, **JSON})

    assert response.status_code in (400, 422), response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] in ("INVALID_BODY", "INVALID_TEXT", "VALIDATION_ERROR")
    assert await row_count(sessionmaker, Person) == 0


@pytest.mark.parametrize("body", HOSTILE.values(), ids=HOSTILE.keys())
async def test_hostile_json_on_an_operation_create_creates_no_operation(
    client: httpx.AsyncClient, caller: ApiCaller, sessionmaker: Sessions, body: bytes
) -> None:
    response = await client.post(
        "/api/v1/sessions", content=body, headers={**caller.headers, **JSON}
    )

    assert response.status_code in (400, 422), response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert await operation_count(sessionmaker) == 0
