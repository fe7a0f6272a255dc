import asyncio

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from backend.config import Settings
from backend.operations.registry import Registry
from backend.operations.worker import Worker
from tests.conftest import ApiCaller
from tests.factories import submit, wait_until


async def test_operation_created_runs_to_completion_and_is_readable(
    client: httpx.AsyncClient,
    caller: ApiCaller,
    sessionmaker: async_sessionmaker[AsyncSession],
    registry: Registry,
    engine: AsyncEngine,
    settings: Settings,
    database_url: str,
) -> None:
    op_id = await submit(sessionmaker, registry, caller, "test.echo", {"value": "hi"})
    stop = asyncio.Event()
    worker = Worker(engine=engine, database_url=database_url, registry=registry, settings=settings)
    task = asyncio.create_task(worker.run(stop))
    try:
        op = await wait_until(sessionmaker, op_id, {"completed"})
        assert op.result == {"echo": "hi"}
        response = await client.get(f"/api/v1/operations/{op_id}", headers=caller.headers)
        assert response.status_code == 200
        body = response.json()
        assert body["status"] == "completed" and body["done"] is True
        assert body["result"] == {"echo": "hi"}
    finally:
        stop.set()
        await task
