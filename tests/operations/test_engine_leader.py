"""The maintenance leader: one advisory lock, one leader at a time, taken over on exit."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.config import Settings
from backend.operations.registry import Registry
from backend.operations.worker import MAINTENANCE_LOCK_KEY, Worker
from tests.factories import running_worker


async def wait_for_leader(workers: list[Worker], timeout: float = 10.0) -> Worker:
    async with asyncio.timeout(timeout):
        while True:
            leaders = [w for w in workers if w.is_leader]
            if leaders:
                return leaders[0]
            await asyncio.sleep(0.05)


@pytest.mark.timeout(30)
async def test_only_one_of_two_workers_leads_maintenance_at_a_time(
    registry: Registry, settings: Settings, database_url: str
) -> None:
    async with (
        running_worker(database_url, registry, settings) as first,
        running_worker(database_url, registry, settings) as second,
    ):
        leader = await wait_for_leader([first, second])
        # Several maintenance rounds: the follower keeps trying and keeps failing.
        for _ in range(10):
            await asyncio.sleep(settings.worker.maintenance_interval / 2)
            assert [w.is_leader for w in (first, second)].count(True) == 1
            assert leader.is_leader


@pytest.mark.timeout(30)
async def test_another_worker_takes_over_when_the_leader_stops(
    registry: Registry, settings: Settings, database_url: str
) -> None:
    leading = contextlib.AsyncExitStack()
    try:
        leader = await leading.enter_async_context(running_worker(database_url, registry, settings))
        await wait_for_leader([leader])
        async with running_worker(database_url, registry, settings) as follower:
            await asyncio.sleep(settings.worker.maintenance_interval * 2)
            assert not follower.is_leader

            await leading.aclose()
            assert not leader.is_leader
            assert await wait_for_leader([follower]) is follower
    finally:
        await leading.aclose()


async def lock_holders(sessionmaker: async_sessionmaker[AsyncSession]) -> list[int]:
    """Backend pids holding the maintenance lock in this test's database (keyed claims
    take an advisory lock of their own for a moment)."""
    async with sessionmaker() as session:
        rows = await session.scalars(
            text(
                "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted "
                "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
                " AND (classid::bigint << 32) + objid::bigint = :key"
            ),
            {"key": MAINTENANCE_LOCK_KEY},
        )
        return list(rows)


@pytest.mark.timeout(30)
async def test_leader_whose_connection_drops_does_not_stay_a_second_leader(
    sessionmaker: async_sessionmaker[AsyncSession],
    registry: Registry,
    settings: Settings,
    database_url: str,
) -> None:
    async with (
        running_worker(database_url, registry, settings) as first,
        running_worker(database_url, registry, settings) as second,
    ):
        await wait_for_leader([first, second])
        [holder] = await lock_holders(sessionmaker)
        async with sessionmaker() as session:
            await session.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": holder})

        async with asyncio.timeout(10):
            while True:  # one of them takes the lock again on a new connection
                if await lock_holders(sessionmaker) not in ([], [holder]):
                    break
                await asyncio.sleep(0.05)
        await asyncio.sleep(settings.worker.maintenance_interval * 2)
        for _ in range(10):
            assert [w.is_leader for w in (first, second)].count(True) == 1
            assert len(await lock_holders(sessionmaker)) == 1
            await asyncio.sleep(settings.worker.maintenance_interval / 2)
