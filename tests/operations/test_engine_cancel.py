"""Cancellation through the API: pending at once, running within a heartbeat, done unchanged."""

from __future__ import annotations

import uuid

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.config import Settings
from backend.operations.registry import Registry
from tests.conftest import ApiCaller
from tests.factories import fetch, running_worker, submit, wait_until
from tests.kinds import HOLD_FATES


async def cancel(client: httpx.AsyncClient, caller: ApiCaller, op_id: uuid.UUID) -> httpx.Response:
    return await client.post(f"/api/v1/operations/{op_id}/cancel", headers=caller.headers)


async def test_cancelling_a_pending_operation_cancels_it_at_once(
    client: httpx.AsyncClient,
    caller: ApiCaller,
    sessionmaker: async_sessionmaker[AsyncSession],
    registry: Registry,
) -> None:
    op_id = await submit(sessionmaker, registry, caller, "test.echo")
    response = await cancel(client, caller, op_id)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "cancelled" and body["done"] is True
    assert body["error"]["code"] == "CANCELLED"
    assert (await fetch(sessionmaker, op_id)).status == "cancelled"


@pytest.mark.timeout(30)
async def test_cancelling_a_running_operation_stops_its_handler(
    client: httpx.AsyncClient,
    caller: ApiCaller,
    sessionmaker: async_sessionmaker[AsyncSession],
    registry: Registry,
    settings: Settings,
    database_url: str,
) -> None:
    op_id = await submit(sessionmaker, registry, caller, "test.hold")
    async with running_worker(database_url, registry, settings):
        await wait_until(sessionmaker, op_id, {"processing"})
        response = await cancel(client, caller, op_id)
        assert response.status_code == 200
        assert response.json()["cancel_requested"] is True
        # Test timeout only: the handler would otherwise sleep for a minute.
        op = await wait_until(sessionmaker, op_id, {"cancelled", "completed", "failed"}, 5)
    assert op.status == "cancelled"
    assert op.error is not None and op.error["code"] == "CANCELLED"
    assert op.attempt == 1
    assert op.result is None
    assert HOLD_FATES[op_id] == "stopped"


@pytest.mark.timeout(30)
async def test_missed_cancel_notification_is_caught_by_the_heartbeat(
    sessionmaker: async_sessionmaker[AsyncSession],
    caller: ApiCaller,
    registry: Registry,
    settings: Settings,
    database_url: str,
) -> None:
    op_id = await submit(sessionmaker, registry, caller, "test.hold")
    async with running_worker(database_url, registry, settings):
        await wait_until(sessionmaker, op_id, {"processing"})
        async with sessionmaker() as session:  # the flag alone, with no NOTIFY
            await session.execute(
                text("UPDATE operations SET cancel_requested = true WHERE id = :id"),
                {"id": op_id},
            )
            await session.commit()
        op = await wait_until(sessionmaker, op_id, {"cancelled", "completed", "failed"}, 5)
    assert op.status == "cancelled"
    assert HOLD_FATES[op_id] == "stopped"


@pytest.mark.timeout(30)
async def test_cancelling_a_finished_operation_returns_it_unchanged(
    client: httpx.AsyncClient,
    caller: ApiCaller,
    sessionmaker: async_sessionmaker[AsyncSession],
    registry: Registry,
    settings: Settings,
    database_url: str,
) -> None:
    op_id = await submit(sessionmaker, registry, caller, "test.echo", {"value": "kept"})
    async with running_worker(database_url, registry, settings):
        before = await wait_until(sessionmaker, op_id, {"completed"})
    response = await cancel(client, caller, op_id)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "completed"
    assert body["result"] == {"echo": "kept"}
    assert body["error"] is None
    assert body["cancel_requested"] is False
    after = await fetch(sessionmaker, op_id)
    assert (after.status, after.version, after.result) == (
        before.status,
        before.version,
        before.result,
    )
