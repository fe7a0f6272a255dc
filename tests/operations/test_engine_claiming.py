"""Exactly-once claiming under concurrency: many workers, one queue, no run twice."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import Counter

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.config import Settings
from backend.operations.registry import Registry
from tests.conftest import ApiCaller
from tests.factories import (
    create_runs_table,
    recorded_runs,
    running_worker,
    spawn,
    submit_many,
    wait_until_all,
    worker_processes,
)

OPERATIONS = 2_000


async def assert_each_ran_exactly_once(
    sessionmaker: async_sessionmaker[AsyncSession], op_ids: list[uuid.UUID]
) -> list[tuple[uuid.UUID, int, int]]:
    """Every operation has exactly one recorded run: none twice, none lost."""
    runs = await recorded_runs(sessionmaker)
    per_attempt = Counter((op_id, attempt) for op_id, attempt, _pid in runs)
    assert [key for key, n in per_attempt.items() if n > 1] == []
    assert len(runs) == len(op_ids)
    assert {op_id for op_id, _attempt, _pid in runs} == set(op_ids)
    return runs


@pytest.mark.timeout(90)
async def test_concurrent_workers_run_every_operation_exactly_once(
    sessionmaker: async_sessionmaker[AsyncSession],
    registry: Registry,
    caller: ApiCaller,
    settings: Settings,
    database_url: str,
) -> None:
    await create_runs_table(sessionmaker)
    op_ids = await submit_many(sessionmaker, registry, caller, "test.record", OPERATIONS)
    async with contextlib.AsyncExitStack() as stack:
        for _ in range(4):
            await stack.enter_async_context(
                running_worker(database_url, registry, settings, concurrency=8)
            )
        counts = await wait_until_all(sessionmaker, "completed", OPERATIONS)
    assert counts == {"completed": OPERATIONS}
    runs = await assert_each_ran_exactly_once(sessionmaker, op_ids)
    assert {attempt for _op, attempt, _pid in runs} == {1}


@pytest.mark.timeout(90)
async def test_two_worker_processes_run_every_operation_exactly_once(
    sessionmaker: async_sessionmaker[AsyncSession],
    registry: Registry,
    caller: ApiCaller,
    database_url: str,
) -> None:
    await create_runs_table(sessionmaker)
    async with worker_processes(database_url) as started:
        first, second = await asyncio.gather(
            spawn(started, database_url, concurrency=8),
            spawn(started, database_url, concurrency=8),
        )
        op_ids = await submit_many(sessionmaker, registry, caller, "test.record", OPERATIONS)
        counts = await wait_until_all(sessionmaker, "completed", OPERATIONS)
    assert counts == {"completed": OPERATIONS}
    runs = await assert_each_ran_exactly_once(sessionmaker, op_ids)
    assert {pid for _op, _attempt, pid in runs} == {first.pid, second.pid}
