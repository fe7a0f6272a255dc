"""Idempotency-Key on create endpoints: replay, mismatch, concurrent duplicates, expiry."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from backend.auth.dependencies import DbSession, WritingCaller
from backend.errors import AppError
from backend.operations import idempotency, service
from backend.operations.delivery_models import IdempotencyKey
from backend.operations.http import accepted
from backend.operations.idempotency import Idempotent
from backend.operations.models import Operation
from tests.conftest import ApiCaller, KeyFactory

Sessions = async_sessionmaker[AsyncSession]
URL = "/api/v1/test-only/echoes"


class EchoRequest(BaseModel):
    value: str
    # Seconds the endpoint takes after writing, to hold the key in flight.
    linger: float = 0.0
    refuse: bool = False


class Refused(AppError):
    status = 409
    code = "REFUSED"


feature = APIRouter(prefix="/api/v1/test-only")


@feature.post(URL.removeprefix("/api/v1/test-only"), status_code=202)
async def create_echo(
    body: EchoRequest,
    request: Request,
    session: DbSession,
    caller: WritingCaller,
    _idempotency: Idempotent,
) -> JSONResponse:
    if body.refuse:
        raise Refused("Refused on request.")
    op = await service.create_operation(
        session,
        request.app.state.registry,
        tenant_id=caller.tenant_id,
        principal_id=caller.principal_id,
        kind="test.echo",
        params={"value": body.value},
    )
    await asyncio.sleep(body.linger)
    return accepted(request, op)


@pytest.fixture
async def feature_client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    app.include_router(feature)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


async def operation_count(sessionmaker: Sessions) -> int:
    async with sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(Operation)) or 0)


def with_key(caller: ApiCaller, key: str) -> dict[str, str]:
    return {**caller.headers, "Idempotency-Key": key}


async def test_a_retry_with_the_same_key_replays_the_first_answer(
    feature_client: httpx.AsyncClient, caller: ApiCaller, sessionmaker: Sessions
) -> None:
    first = await feature_client.post(URL, json={"value": "a"}, headers=with_key(caller, "k-1"))
    again = await feature_client.post(URL, json={"value": "a"}, headers=with_key(caller, "k-1"))

    assert first.status_code == again.status_code == 202
    assert again.content == first.content
    assert again.headers["Location"] == first.headers["Location"]
    assert again.headers["ETag"] == first.headers["ETag"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert await operation_count(sessionmaker) == 1


async def test_the_same_key_with_a_different_request_is_422(
    feature_client: httpx.AsyncClient, caller: ApiCaller, sessionmaker: Sessions
) -> None:
    await feature_client.post(URL, json={"value": "a"}, headers=with_key(caller, "k-2"))

    other = await feature_client.post(URL, json={"value": "b"}, headers=with_key(caller, "k-2"))

    assert other.status_code == 422
    assert other.headers["content-type"] == "application/problem+json"
    assert other.json()["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert await operation_count(sessionmaker) == 1


async def test_the_same_key_while_the_first_request_is_in_flight_is_409(
    feature_client: httpx.AsyncClient, caller: ApiCaller, sessionmaker: Sessions
) -> None:
    body = {"value": "slow", "linger": 2.0}
    first = asyncio.create_task(
        feature_client.post(URL, json=body, headers=with_key(caller, "k-3"))
    )
    await key_reserved(sessionmaker)

    duplicate = await feature_client.post(URL, json=body, headers=with_key(caller, "k-3"))
    original = await first
    replay = await feature_client.post(URL, json=body, headers=with_key(caller, "k-3"))

    assert duplicate.status_code == 409
    assert duplicate.json()["code"] == "IDEMPOTENCY_KEY_IN_USE"
    assert duplicate.headers["Retry-After"] == "1"
    assert original.status_code == 202
    assert replay.content == original.content
    assert await operation_count(sessionmaker) == 1


async def key_reserved(sessionmaker: Sessions) -> None:
    """Until the first request's key is reserved (its record committed), however long a
    loaded machine takes to get there."""
    async with asyncio.timeout(10):
        while True:
            async with sessionmaker() as session:
                if await session.scalar(select(func.count()).select_from(IdempotencyKey)):
                    return
            await asyncio.sleep(0.02)


async def test_fifty_concurrent_requests_with_one_key_create_exactly_one_operation(
    feature_client: httpx.AsyncClient, caller: ApiCaller, sessionmaker: Sessions
) -> None:
    answers = await asyncio.gather(
        *(
            feature_client.post(URL, json={"value": "x"}, headers=with_key(caller, "k-50"))
            for _ in range(50)
        )
    )

    statuses = sorted(a.status_code for a in answers)
    created = [a for a in answers if a.status_code == 202]
    assert set(statuses) <= {202, 409}
    assert len({a.json()["id"] for a in created}) == 1
    assert await operation_count(sessionmaker) == 1


async def test_keys_are_scoped_to_the_caller(
    feature_client: httpx.AsyncClient, make_caller: KeyFactory, sessionmaker: Sessions
) -> None:
    alice, bob = await make_caller(), await make_caller()

    one = await feature_client.post(URL, json={"value": "a"}, headers=with_key(alice, "shared"))
    two = await feature_client.post(URL, json={"value": "a"}, headers=with_key(bob, "shared"))

    assert one.status_code == two.status_code == 202
    assert one.json()["id"] != two.json()["id"]
    assert "Idempotent-Replayed" not in two.headers


async def test_a_failed_request_releases_its_key(
    feature_client: httpx.AsyncClient, caller: ApiCaller, sessionmaker: Sessions
) -> None:
    refused = await feature_client.post(
        URL, json={"value": "a", "refuse": True}, headers=with_key(caller, "k-4")
    )
    invalid = await feature_client.post(URL, json={"value": 1}, headers=with_key(caller, "k-4"))
    retried = await feature_client.post(URL, json={"value": "a"}, headers=with_key(caller, "k-4"))

    assert refused.status_code == 409
    assert invalid.status_code == 422
    assert invalid.json()["code"] == "VALIDATION_ERROR"
    assert retried.status_code == 202
    assert "Idempotent-Replayed" not in retried.headers
    assert await operation_count(sessionmaker) == 1


@pytest.mark.parametrize("key", [b"", b"x" * 256, "naïve".encode("latin-1")])
async def test_an_invalid_key_is_422_and_creates_nothing(
    feature_client: httpx.AsyncClient, caller: ApiCaller, sessionmaker: Sessions, key: bytes
) -> None:
    headers = [(b"Authorization", f"Bearer {caller.key}".encode()), (b"Idempotency-Key", key)]
    response = await feature_client.post(URL, json={"value": "a"}, headers=headers)

    assert response.status_code == 422
    assert response.json()["code"] == "INVALID_IDEMPOTENCY_KEY"
    assert await operation_count(sessionmaker) == 0


async def test_a_key_in_structured_field_form_is_the_same_key(
    feature_client: httpx.AsyncClient, caller: ApiCaller
) -> None:
    first = await feature_client.post(URL, json={"value": "a"}, headers=with_key(caller, "k-5"))
    quoted = await feature_client.post(URL, json={"value": "a"}, headers=with_key(caller, '"k-5"'))

    assert quoted.headers["Idempotent-Replayed"] == "true"
    assert quoted.content == first.content


async def test_an_expired_key_is_a_new_key_and_is_pruned(
    feature_client: httpx.AsyncClient,
    caller: ApiCaller,
    sessionmaker: Sessions,
    engine: AsyncEngine,
) -> None:
    first = await feature_client.post(URL, json={"value": "a"}, headers=with_key(caller, "k-6"))
    async with sessionmaker() as session:
        await session.execute(
            update(IdempotencyKey).values(expires_at=func.now() - text("interval '1 second'"))
        )
        await session.commit()

    again = await feature_client.post(URL, json={"value": "a"}, headers=with_key(caller, "k-6"))
    async with sessionmaker() as session:
        await session.execute(
            update(IdempotencyKey).values(expires_at=func.now() - text("interval '1 second'"))
        )
        await session.commit()
    pruned = await idempotency.prune_expired(engine, limit=100)

    assert again.status_code == 202
    assert again.json()["id"] != first.json()["id"]
    assert pruned == 1


async def test_an_abandoned_in_flight_key_can_be_taken_over_after_its_lock(
    feature_client: httpx.AsyncClient, caller: ApiCaller, sessionmaker: Sessions
) -> None:
    await feature_client.post(URL, json={"value": "a"}, headers=with_key(caller, "k-7"))
    async with sessionmaker() as session:
        # As a request whose process died after claiming the key would leave it.
        await session.execute(
            update(IdempotencyKey).values(
                state="in_flight", response_status=None, locked_until=func.now()
            )
        )
        await session.commit()

    retried = await feature_client.post(URL, json={"value": "a"}, headers=with_key(caller, "k-7"))

    assert retried.status_code == 202
    assert "Idempotent-Replayed" not in retried.headers
