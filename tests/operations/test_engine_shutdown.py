"""Graceful shutdown of a worker process on SIGTERM."""

from __future__ import annotations

import os
import signal

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.config import Settings
from backend.operations.registry import Registry
from tests.conftest import ApiCaller
from tests.factories import (
    create_runs_table,
    fetch,
    recorded_runs,
    running_worker,
    spawn,
    submit,
    wait_until,
    worker_processes,
)


@pytest.mark.timeout(60)
async def test_sigterm_releases_a_long_operation_without_spending_an_attempt(
    sessionmaker: async_sessionmaker[AsyncSession],
    registry: Registry,
    caller: ApiCaller,
    settings: Settings,
    database_url: str,
) -> None:
    await create_runs_table(sessionmaker)
    async with worker_processes(database_url) as started:
        stopping = await spawn(started, database_url, shutdown_grace=0.5)
        params = {"seconds": 60, "slow_pids": [stopping.pid]}
        op_id = await submit(sessionmaker, registry, caller, "test.record", params)
        await wait_until(sessionmaker, op_id, {"processing"})
        stopping.send(signal.SIGTERM)
        assert await stopping.wait_exit() == 0

    released = await fetch(sessionmaker, op_id)
    assert released.status == "pending"
    assert released.attempt == 0
    assert released.lease_owner is None
    assert released.error is None

    # The release gave the attempt back, so the next run is attempt 1 again.
    async with running_worker(database_url, registry, settings):
        op = await wait_until(sessionmaker, op_id, {"completed", "failed"})
    assert op.status == "completed"
    assert op.attempt == 1
    assert await recorded_runs(sessionmaker, op_id) == [(op_id, 1, os.getpid())]


@pytest.mark.timeout(60)
async def test_sigterm_lets_a_handler_finish_within_the_grace_period(
    sessionmaker: async_sessionmaker[AsyncSession],
    registry: Registry,
    caller: ApiCaller,
    database_url: str,
) -> None:
    await create_runs_table(sessionmaker)
    async with worker_processes(database_url) as started:
        stopping = await spawn(started, database_url, shutdown_grace=10)
        op_id = await submit(sessionmaker, registry, caller, "test.record", {"seconds": 1})
        await wait_until(sessionmaker, op_id, {"processing"})
        stopping.send(signal.SIGTERM)
        assert await stopping.wait_exit() == 0

    op = await fetch(sessionmaker, op_id)
    assert op.status == "completed"
    assert op.attempt == 1
    assert op.result == {"pid": stopping.pid, "attempt": 1}
    assert await recorded_runs(sessionmaker, op_id) == [(op_id, 1, stopping.pid)]
