"""Crashed and paused workers: leases expire, operations are rescued, late results fenced."""

from __future__ import annotations

import os
import signal

import pytest
from sqlalchemy import text
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
from tests.kinds import hold_fate


@pytest.mark.timeout(60)
async def test_killed_worker_operation_is_rescued_and_completed_by_another(
    sessionmaker: async_sessionmaker[AsyncSession],
    registry: Registry,
    caller: ApiCaller,
    settings: Settings,
    database_url: str,
) -> None:
    await create_runs_table(sessionmaker)
    async with worker_processes(database_url) as started:
        doomed = await spawn(started, database_url, "--kinds", "test.record", concurrency=1)
        # Long enough that the doomed worker never finishes it on its own.
        params = {"seconds": 60, "slow_pids": [doomed.pid]}
        op_id = await submit(sessionmaker, registry, caller, "test.record", params)
        op = await wait_until(sessionmaker, op_id, {"processing"})
        assert op.lease_owner is not None and f":{doomed.pid}:" in op.lease_owner

        doomed.send(signal.SIGKILL)
        assert await doomed.wait_exit() == -signal.SIGKILL

        async with running_worker(database_url, registry, settings) as rescuer:
            op = await wait_until(sessionmaker, op_id, {"completed", "failed"})
            assert rescuer.is_leader

    assert op.status == "completed"
    assert op.attempt == 2
    assert op.result == {"pid": os.getpid(), "attempt": 2}
    assert await recorded_runs(sessionmaker, op_id) == [(op_id, 2, os.getpid())]


@pytest.mark.timeout(60)
async def test_paused_worker_late_result_is_discarded_after_another_completes(
    sessionmaker: async_sessionmaker[AsyncSession],
    registry: Registry,
    caller: ApiCaller,
    settings: Settings,
    database_url: str,
) -> None:
    await create_runs_table(sessionmaker)
    # The leader runs no handler of this kind, so only the paused worker can claim
    # the first attempt, and the rescue does not depend on the paused process.
    async with (
        running_worker(database_url, registry, settings, kinds=["test.echo"]) as leader,
        worker_processes(database_url) as started,
    ):
        paused = await spawn(started, database_url, "--kinds", "test.record", concurrency=1)
        # Long enough to outlive the lease, short enough to wake up within the test.
        params = {"seconds": 4, "slow_pids": [paused.pid]}
        op_id = await submit(sessionmaker, registry, caller, "test.record", params)
        op = await wait_until(sessionmaker, op_id, {"processing"})
        assert op.lease_owner is not None and f":{paused.pid}:" in op.lease_owner
        assert leader.is_leader

        paused.send(signal.SIGSTOP)
        await wait_until(sessionmaker, op_id, {"pending"})
        async with running_worker(database_url, registry, settings, kinds=["test.record"]):
            op = await wait_until(sessionmaker, op_id, {"completed"})
        paused.send(signal.SIGCONT)
        await paused.wait_for_log("discarded")

    assert op.attempt == 2
    assert op.result == {"pid": os.getpid(), "attempt": 2}
    assert await recorded_runs(sessionmaker, op_id) == [(op_id, 2, os.getpid())]
    assert (await wait_until(sessionmaker, op_id, {"completed"})).result == op.result


@pytest.mark.timeout(30)
async def test_worker_that_lost_its_lease_stops_the_handler_and_leaves_the_outcome_alone(
    sessionmaker: async_sessionmaker[AsyncSession],
    registry: Registry,
    caller: ApiCaller,
    settings: Settings,
    database_url: str,
) -> None:
    op_id = await submit(sessionmaker, registry, caller, "test.hold")
    async with running_worker(database_url, registry, settings):
        await wait_until(sessionmaker, op_id, {"processing"})
        # Another actor takes the operation over, as a rescue and a new claim would.
        async with sessionmaker() as session:
            await session.execute(
                text("UPDATE operations SET lease_owner = 'other:1:worker' WHERE id = :id"),
                {"id": op_id},
            )
            await session.commit()
        fate = await hold_fate(op_id)
    assert fate == "stopped"
    op = await fetch(sessionmaker, op_id)
    assert (op.status, op.lease_owner, op.attempt) == ("processing", "other:1:worker", 1)


@pytest.mark.timeout(30)
async def test_expired_lease_with_attempts_spent_fails_as_worker_lost(
    sessionmaker: async_sessionmaker[AsyncSession],
    registry: Registry,
    caller: ApiCaller,
    settings: Settings,
    database_url: str,
) -> None:
    op_id = await submit(sessionmaker, registry, caller, "test.echo")
    await abandon(sessionmaker, op_id, attempt=3)
    async with running_worker(database_url, registry, settings):
        op = await wait_until(sessionmaker, op_id, {"failed", "completed"})
    assert op.status == "failed"
    assert op.error is not None and op.error["code"] == "WORKER_LOST"
    assert op.attempt == 3


@pytest.mark.timeout(30)
async def test_expired_lease_of_a_cancel_requested_operation_ends_cancelled(
    sessionmaker: async_sessionmaker[AsyncSession],
    registry: Registry,
    caller: ApiCaller,
    settings: Settings,
    database_url: str,
) -> None:
    op_id = await submit(sessionmaker, registry, caller, "test.echo")
    await abandon(sessionmaker, op_id, attempt=1, cancel_requested=True)
    async with running_worker(database_url, registry, settings):
        op = await wait_until(sessionmaker, op_id, {"cancelled", "completed", "failed"})
    assert op.status == "cancelled"
    assert op.error is not None and op.error["code"] == "CANCELLED"
    assert op.result is None


async def abandon(
    sessionmaker: async_sessionmaker[AsyncSession],
    op_id: object,
    *,
    attempt: int,
    cancel_requested: bool = False,
) -> None:
    """Leave the operation as a worker that died mid-attempt would: processing, lease gone."""
    async with sessionmaker() as session:
        await session.execute(
            text(
                "UPDATE operations SET status = 'processing', attempt = :attempt, "
                "lease_owner = 'gone:1:dead', lease_expires_at = now() - interval '1 second', "
                "cancel_requested = :cancel WHERE id = :id"
            ),
            {"id": op_id, "attempt": attempt, "cancel": cancel_requested},
        )
        await session.commit()
