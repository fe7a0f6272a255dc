"""Every error is RFC 9457 problem+json with a stable code, and carries the request id."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
from fastapi import APIRouter, FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.features.interviews.models import InterviewSession
from tests.conftest import ApiCaller

PROBLEM = "application/problem+json"
SECRET = "password=hunter2 in /srv/opsapi/secret.py"

broken = APIRouter(prefix="/test-only")


@broken.get("/boom")
async def boom() -> None:
    raise RuntimeError(SECRET)


@broken.get("/crowded")
async def crowded() -> None:
    raise asyncpg.TooManyConnectionsError("sorry, too many clients already")


@pytest.fixture
async def tolerant_client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client that sees the 500 answer instead of the app's exception."""
    app.include_router(broken)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, object]:
    assert response.status_code == status
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, object] = response.json()
    assert body["status"] == status
    assert body["code"] == code
    assert body["type"] == "urn:opsapi:problem:" + code.lower().replace("_", "-")
    assert body["title"]
    assert body["detail"]
    assert body["request_id"] == response.headers["X-Request-ID"]
    return body


async def test_an_unknown_route_is_404_problem(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/nothing-here")

    body = assert_problem(response, 404, "NOT_FOUND")
    assert body["instance"] == "/api/v1/nothing-here"


async def test_a_wrong_method_is_405_problem_with_allow(
    client: httpx.AsyncClient, caller: ApiCaller
) -> None:
    response = await client.put("/api/v1/operations", headers=caller.headers)

    assert_problem(response, 405, "METHOD_NOT_ALLOWED")
    assert "GET" in response.headers["Allow"]


async def test_a_405_allows_every_method_served_at_the_url(
    client: httpx.AsyncClient, caller: ApiCaller
) -> None:
    url = "/api/v1/operations/01936f0e-8f6b-7cc2-9b8e-2f4c1e7d5a10"

    response = await client.put(url, headers=caller.headers)

    assert_problem(response, 405, "METHOD_NOT_ALLOWED")
    assert {"GET", "DELETE"} <= {m.strip() for m in response.headers["Allow"].split(",")}


async def test_a_body_that_is_not_utf8_json_is_a_422_validation_problem(
    client: httpx.AsyncClient, caller: ApiCaller
) -> None:
    response = await client.post(
        "/api/v1/webhook-endpoints",
        content=b"e\xff\x04\xfe\xad",
        headers={**caller.headers, "Content-Type": "application/json"},
    )

    body = assert_problem(response, 422, "VALIDATION_ERROR")
    errors = body["errors"]
    assert isinstance(errors, list) and len(errors) == 1
    assert errors[0]["loc"] == ["body"] and errors[0]["type"] == "body_invalid"


async def test_too_many_database_clients_is_503_database_unavailable(
    tolerant_client: httpx.AsyncClient,
) -> None:
    response = await tolerant_client.get("/test-only/crowded")

    assert_problem(response, 503, "DATABASE_UNAVAILABLE")
    assert "too many" not in response.text


async def test_text_with_a_nul_character_is_a_422_and_creates_nothing(
    client: httpx.AsyncClient,
    caller: ApiCaller,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    body = {"role": "Engineer", "seniority": "senior", "topic": "System\u0000design"}

    response = await client.post("/api/v1/sessions", json=body, headers=caller.headers)

    problem = assert_problem(response, 422, "INVALID_TEXT")
    assert "NUL" in str(problem["detail"])
    async with sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(InterviewSession)) == 0


async def test_a_malformed_uuid_is_422_listing_the_field(
    client: httpx.AsyncClient, caller: ApiCaller
) -> None:
    response = await client.get("/api/v1/operations/not-a-uuid", headers=caller.headers)

    body = assert_problem(response, 422, "VALIDATION_ERROR")
    errors = body["errors"]
    assert isinstance(errors, list) and len(errors) == 1
    assert errors[0]["loc"] == ["path", "operation_id"]
    assert errors[0]["msg"]
    assert errors[0]["type"] == "uuid_parsing"


async def test_several_invalid_fields_are_all_listed(
    client: httpx.AsyncClient, caller: ApiCaller
) -> None:
    response = await client.get(
        "/api/v1/operations",
        headers=caller.headers,
        params={"page_size": "0", "created_after": "soon"},
    )

    body = assert_problem(response, 422, "VALIDATION_ERROR")
    assert isinstance(body["errors"], list)
    assert sorted(e["loc"][-1] for e in body["errors"]) == ["created_after", "page_size"]


async def test_an_unexpected_exception_is_500_without_its_text(
    tolerant_client: httpx.AsyncClient,
) -> None:
    response = await tolerant_client.get("/test-only/boom")

    body = assert_problem(response, 500, "INTERNAL_ERROR")
    assert "hunter2" not in response.text
    assert "RuntimeError" not in response.text
    assert "secret.py" not in response.text
    assert "request_id" in str(body["detail"])


async def test_an_unexpected_exception_keeps_the_callers_request_id(
    tolerant_client: httpx.AsyncClient,
) -> None:
    response = await tolerant_client.get("/test-only/boom", headers={"X-Request-ID": "trace-42"})

    assert response.headers["X-Request-ID"] == "trace-42"
    assert response.json()["request_id"] == "trace-42"


async def test_a_request_id_is_made_up_when_none_is_sent(client: httpx.AsyncClient) -> None:
    first = await client.get("/healthz")
    second = await client.get("/healthz")

    assert first.headers["X-Request-ID"]
    assert first.headers["X-Request-ID"] != second.headers["X-Request-ID"]


async def test_the_callers_request_id_is_echoed_on_errors(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/operations", headers={"X-Request-ID": "abc-123"})

    assert response.headers["X-Request-ID"] == "abc-123"
    assert response.json()["request_id"] == "abc-123"


@pytest.mark.parametrize("value", ["x" * 500, "bad\tvalue"], ids=["too-long", "control-char"])
async def test_an_unusable_request_id_is_not_echoed_as_sent(
    client: httpx.AsyncClient, value: str
) -> None:
    response = await client.get("/healthz", headers={"X-Request-ID": value})

    echoed = response.headers["X-Request-ID"]
    assert echoed != value
    assert 0 < len(echoed) <= 64


@pytest.mark.usefixtures("unreachable_database")
async def test_an_unreachable_database_is_503_database_unavailable(
    client: httpx.AsyncClient, caller: ApiCaller
) -> None:
    response = await client.get("/api/v1/operations", headers=caller.headers)

    assert_problem(response, 503, "DATABASE_UNAVAILABLE")
    assert int(response.headers["Retry-After"]) > 0
    assert "9/nowhere" not in response.text
