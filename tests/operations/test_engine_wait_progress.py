"""Long-polling for the outcome, progress reporting, and the database's state guard."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.config import Settings
from backend.operations.registry import Registry
from tests.conftest import ApiCaller
from tests.factories import fetch, running_worker, submit, wait_for, wait_until


@pytest.mark.timeout(30)
async def test_wait_returns_the_operation_once_a_worker_completes_it(
    client: httpx.AsyncClient,
    caller: ApiCaller,
    sessionmaker: async_sessionmaker[AsyncSession],
    registry: Registry,
    settings: Settings,
    database_url: str,
) -> None:
    op_id = await submit(sessionmaker, registry, caller, "test.sleep", {"seconds": 0.5})
    async with running_worker(database_url, registry, settings):
        response = await client.get(
            f"/api/v1/operations/{op_id}/wait", params={"timeout": 20}, headers=caller.headers
        )
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "completed" and body["done"] is True
    assert body["result"] == {"slept": 0.5}


@pytest.mark.timeout(30)
async def test_wait_returns_the_pending_operation_at_the_timeout(
    client: httpx.AsyncClient,
    caller: ApiCaller,
    sessionmaker: async_sessionmaker[AsyncSession],
    registry: Registry,
) -> None:
    op_id = await submit(sessionmaker, registry, caller, "test.echo")
    response = await client.get(
        f"/api/v1/operations/{op_id}/wait", params={"timeout": 0.5}, headers=caller.headers
    )
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "pending" and body["done"] is False
    assert response.headers["Retry-After"] == "1"


@pytest.mark.timeout(30)
async def test_progress_reported_by_the_handler_is_visible_on_the_operation(
    client: httpx.AsyncClient,
    caller: ApiCaller,
    sessionmaker: async_sessionmaker[AsyncSession],
    registry: Registry,
    settings: Settings,
    database_url: str,
) -> None:
    params = {"seconds": 2, "steps": 4}
    op_id = await submit(sessionmaker, registry, caller, "test.sleep", params)
    async with running_worker(database_url, registry, settings):
        await wait_for(sessionmaker, op_id, lambda op: op.progress is not None, "in progress")
        response = await client.get(f"/api/v1/operations/{op_id}", headers=caller.headers)
        running = response.json()
        done = await wait_until(sessionmaker, op_id, {"completed", "failed"})
    assert running["status"] == "processing"
    assert running["progress"]["stage"] == "sleeping"
    assert 25 <= running["progress"]["percent"] < 100
    assert done.status == "completed"
    assert done.progress == {"percent": 100.0, "stage": "sleeping", "message": None}


@pytest.mark.parametrize(
    ("start", "illegal"),
    [("completed", "pending"), ("completed", "processing"), ("pending", "completed")],
)
async def test_database_refuses_an_illegal_status_transition(
    sessionmaker: async_sessionmaker[AsyncSession],
    caller: ApiCaller,
    registry: Registry,
    start: str,
    illegal: str,
) -> None:
    op_id = await submit(sessionmaker, registry, caller, "test.echo")
    async with sessionmaker() as session:
        for status in {"completed": ["processing", "completed"], "pending": []}[start]:
            await session.execute(
                text("UPDATE operations SET status = :s WHERE id = :id"), {"s": status, "id": op_id}
            )
        await session.commit()
    async with sessionmaker() as session:
        with pytest.raises(DBAPIError, match="illegal operation transition"):
            await session.execute(
                text("UPDATE operations SET status = :s WHERE id = :id"),
                {"s": illegal, "id": op_id},
            )
    assert (await fetch(sessionmaker, op_id)).status == start
