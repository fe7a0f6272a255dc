"""The fast path: claims on the worker's own connection, batched and fenced completions."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
import pytest
from pydantic import BaseModel
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from backend.config import Settings
from backend.db import libpq_dsn
from backend.operations import claims
from backend.operations.connection import DedicatedConnection
from backend.operations.context import OperationContext
from backend.operations.delivery_models import OperationEvent
from backend.operations.registry import Registry
from backend.operations.repository import ClaimedOperation, Outcome
from backend.operations.writer import OutcomeWriter
from tests.conftest import ApiCaller
from tests.factories import fetch, running_worker, submit, submit_many, wait_until

Sessions = async_sessionmaker[AsyncSession]


class NoParams(BaseModel):
    pass


async def claim(database_url: str, owner: str, limit: int) -> list[ClaimedOperation]:
    conn = await asyncpg.connect(libpq_dsn(database_url))
    try:
        return await claims.claim_batch(
            conn,
            owner=owner,
            queues=["default"],
            kinds=["test.echo"],
            limit=limit,
            lease_seconds=30,
        )
    finally:
        await conn.close()


async def take_over(engine: AsyncEngine, op: ClaimedOperation, database_url: str) -> None:
    """What a rescue and another worker's claim do: a new attempt under a new owner."""
    async with engine.begin() as conn:
        await conn.execute(
            text("UPDATE operations SET status = 'pending', lease_owner = NULL WHERE id = :id"),
            {"id": op.id},
        )
    (again,) = await claim(database_url, "other:1:worker", 1)
    assert (again.id, again.attempt) == (op.id, op.attempt + 1)


async def test_claim_commits_asynchronously_only_on_the_claim_connection(
    database_url: str,
) -> None:
    claims_conn = DedicatedConnection(
        libpq_dsn(database_url), name="claims", settings={"synchronous_commit": "off"}
    )
    outcomes_conn = DedicatedConnection(libpq_dsn(database_url), name="outcomes")
    try:
        assert await (await claims_conn.get()).fetchval("SHOW synchronous_commit") == "off"
        assert await (await outcomes_conn.get()).fetchval("SHOW synchronous_commit") == "on"
    finally:
        await claims_conn.close()
        await outcomes_conn.close()


async def test_one_claim_statement_marks_rows_processing_and_records_their_events(
    sessionmaker: Sessions, registry: Registry, caller: ApiCaller, database_url: str
) -> None:
    ids = set(await submit_many(sessionmaker, registry, caller, "test.echo", 5))
    claimed = await claim(database_url, "w1", 3)

    assert len(claimed) == 3 and {op.id for op in claimed} <= ids
    async with sessionmaker() as session:
        for op in claimed:
            row = await fetch(sessionmaker, op.id)
            assert (row.status, row.lease_owner, row.attempt) == ("processing", "w1", 1)
            event = await session.scalar(
                select(OperationEvent).where(
                    OperationEvent.operation_id == op.id, OperationEvent.seq == row.version
                )
            )
            assert event is not None and event.type == "status"
            assert event.data["status"] == "processing"


async def test_batched_completion_skips_a_row_whose_lease_was_taken_over(
    engine: AsyncEngine,
    sessionmaker: Sessions,
    registry: Registry,
    caller: ApiCaller,
    database_url: str,
) -> None:
    await submit_many(sessionmaker, registry, caller, "test.echo", 2)
    kept, lost = await claim(database_url, "w1", 2)
    await take_over(engine, lost, database_url)

    writer = OutcomeWriter(libpq_dsn(database_url), owner="w1", retention_seconds=60)
    writer.start()
    try:
        # Queued together, written by one statement.
        won = await asyncio.gather(
            writer.write(Outcome(kept.id, kept.attempt, "completed", {"by": "w1"})),
            writer.write(Outcome(lost.id, lost.attempt, "completed", {"by": "w1"})),
        )
    finally:
        await writer.stop()

    assert list(won) == [True, False]
    done = await fetch(sessionmaker, kept.id)
    assert (done.status, done.result, done.lease_owner) == ("completed", {"by": "w1"}, None)
    taken = await fetch(sessionmaker, lost.id)
    assert (taken.status, taken.lease_owner, taken.attempt) == ("processing", "other:1:worker", 2)
    assert taken.result is None


async def test_a_result_the_database_refuses_fails_only_its_own_operation_in_a_batch(
    sessionmaker: Sessions, registry: Registry, caller: ApiCaller, database_url: str
) -> None:
    await submit_many(sessionmaker, registry, caller, "test.echo", 2)
    good, bad = await claim(database_url, "w1", 2)

    writer = OutcomeWriter(libpq_dsn(database_url), owner="w1", retention_seconds=60)
    writer.start()
    try:
        won = await asyncio.gather(
            writer.write(Outcome(good.id, good.attempt, "completed", {"text": "fine"})),
            # jsonb refuses the NUL character.
            writer.write(Outcome(bad.id, bad.attempt, "completed", {"text": "a\x00b"})),
        )
    finally:
        await writer.stop()

    assert list(won) == [True, True]
    assert (await fetch(sessionmaker, good.id)).status == "completed"
    failed = await fetch(sessionmaker, bad.id)
    assert failed.status == "failed"
    assert failed.error is not None and failed.error["code"] == "INVALID_RESULT"
    assert failed.result is None


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    "result",
    [{"text": "a\x00b"}, {"score": float("nan")}, {"text": "\ud800"}],
    ids=["nul", "nan", "lone-surrogate"],
)
async def test_handler_returning_an_unstorable_result_fails_cleanly(
    sessionmaker: Sessions,
    registry: Registry,
    caller: ApiCaller,
    settings: Settings,
    database_url: str,
    result: dict[str, Any],
) -> None:
    async def unstorable(ctx: OperationContext, params: NoParams) -> dict[str, Any]:
        return result

    registry.register("test.unstorable", unstorable, params=NoParams, max_attempts=3)
    bad = await submit(sessionmaker, registry, caller, "test.unstorable")
    good = await submit(sessionmaker, registry, caller, "test.echo", {"text": "hi"})
    async with running_worker(database_url, registry, settings):
        failed = await wait_until(sessionmaker, bad, {"completed", "failed"})
        done = await wait_until(sessionmaker, good, {"completed", "failed"})

    assert failed.status == "failed"
    assert failed.attempt == 1  # not retried: the same result would be refused again
    assert failed.error == {
        "code": "INVALID_RESULT",
        "message": "The operation produced a result that cannot be stored.",
        "retryable": False,
    }
    assert done.status == "completed"


@pytest.mark.timeout(60)
async def test_a_worker_of_concurrency_one_runs_one_handler_at_a_time(
    sessionmaker: Sessions,
    registry: Registry,
    caller: ApiCaller,
    settings: Settings,
    database_url: str,
) -> None:
    running: set[uuid.UUID] = set()
    most = 0

    async def counted(ctx: OperationContext, params: NoParams) -> dict[str, int]:
        nonlocal most
        running.add(ctx.operation_id)
        most = max(most, len(running))
        await asyncio.sleep(0.001)
        running.discard(ctx.operation_id)
        return {"attempt": ctx.attempt}

    registry.register("test.counted", counted, params=NoParams)
    ids = await submit_many(sessionmaker, registry, caller, "test.counted", 200)
    async with running_worker(database_url, registry, settings, concurrency=1):
        for op_id in ids:
            op = await wait_until(sessionmaker, op_id, {"completed", "failed"})
            assert (op.status, op.result) == ("completed", {"attempt": 1})

    assert most == 1
