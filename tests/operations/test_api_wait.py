"""GET /api/v1/operations/{id}/wait: long-polling until done or the timeout."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.config import Settings
from backend.main import create_app
from backend.operations.registry import Registry
from backend.operations.states import Status
from tests.conftest import ApiCaller
from tests.conftest import test_settings as settings_for
from tests.factories import submit
from tests.operations.rows import move_to

Sessions = async_sessionmaker[AsyncSession]


def url(op_id: uuid.UUID) -> str:
    return f"/api/v1/operations/{op_id}/wait"


@pytest.mark.parametrize("timeout", ["60.5", "61", "-1", "soon"])
async def test_a_timeout_outside_0_to_60_seconds_is_422(
    client: httpx.AsyncClient,
    caller: ApiCaller,
    sessionmaker: Sessions,
    registry: Registry,
    timeout: str,
) -> None:
    op_id = await submit(sessionmaker, registry, caller, "test.echo")

    response = await client.get(url(op_id), headers=caller.headers, params={"timeout": timeout})

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"][0]["loc"] == ["query", "timeout"]


async def test_waiting_on_a_finished_operation_answers_at_once(
    client: httpx.AsyncClient, caller: ApiCaller, sessionmaker: Sessions, registry: Registry
) -> None:
    op_id = await submit(sessionmaker, registry, caller, "test.echo")
    await move_to(sessionmaker, op_id, Status.completed)

    response = await client.get(url(op_id), headers=caller.headers, params={"timeout": 30})

    assert response.status_code == 200
    assert response.json()["status"] == "completed"
    assert "Retry-After" not in response.headers


async def test_waiting_answers_the_current_state_at_the_timeout(
    client: httpx.AsyncClient, caller: ApiCaller, sessionmaker: Sessions, registry: Registry
) -> None:
    op_id = await submit(sessionmaker, registry, caller, "test.echo")

    response = await client.get(url(op_id), headers=caller.headers, params={"timeout": 0.2})

    assert response.status_code == 200
    assert response.json()["status"] == "pending"
    assert "Retry-After" in response.headers
    assert "ETag" in response.headers


async def test_waiting_returns_when_the_operation_finishes(
    client: httpx.AsyncClient, caller: ApiCaller, sessionmaker: Sessions, registry: Registry
) -> None:
    op_id = await submit(sessionmaker, registry, caller, "test.echo")
    waiting = asyncio.create_task(
        client.get(url(op_id), headers=caller.headers, params={"timeout": 30})
    )
    await asyncio.sleep(0.2)

    cancel = await client.post(f"/api/v1/operations/{op_id}/cancel", headers=caller.headers)
    response = await asyncio.wait_for(waiting, timeout=10)

    assert cancel.status_code == 200
    assert response.json()["status"] == "cancelled"


@pytest.fixture
async def one_connection_app(database_url: str, registry: Registry) -> AsyncIterator[FastAPI]:
    settings: Settings = settings_for(
        database_url, database={"pool_size": 1, "max_overflow": 0, "pool_timeout": 2}
    )
    app = create_app(settings, registry=registry, database_url=database_url, configure_logs=False)
    async with app.router.lifespan_context(app):
        yield app


async def test_a_waiting_client_holds_no_database_connection(
    one_connection_app: FastAPI, caller: ApiCaller, sessionmaker: Sessions, registry: Registry
) -> None:
    op_id = await submit(sessionmaker, registry, caller, "test.echo")
    transport = httpx.ASGITransport(app=one_connection_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        waiting = asyncio.create_task(
            client.get(url(op_id), headers=caller.headers, params={"timeout": 5})
        )
        await asyncio.sleep(0.3)

        response = await client.get(f"/api/v1/operations/{op_id}", headers=caller.headers)

        assert response.status_code == 200
        assert not waiting.done()
        waiting.cancel()
