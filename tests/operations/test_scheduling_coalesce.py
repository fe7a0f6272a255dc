"""Coalescing: join the pending operation with the key; while one processes, queue
exactly one follow-up that runs after it; optionally debounce the start."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from backend.config import Settings
from backend.operations import claims, repository, service
from backend.operations.registry import Registry
from backend.operations.repository import ClaimedOperation, Outcome
from tests.conftest import ApiCaller
from tests.factories import create_runs_table, fetch, recorded_runs, running_worker, wait_until

Sessions = async_sessionmaker[AsyncSession]
KEY = "review-cycle:7"


async def create(
    sessions: Sessions, registry: Registry, caller: ApiCaller, **options: Any
) -> uuid.UUID:
    async with sessions() as session:
        op = await service.create_operation(
            session,
            registry,
            tenant_id=caller.tenant_id,  # type: ignore[arg-type]
            principal_id=caller.principal_id,  # type: ignore[arg-type]
            kind="test.record",
            params={"seconds": options.pop("seconds", 0.0)},
            coalesce_key=KEY,
            **options,
        )
        await session.commit()
        return op.id


async def claim(engine: AsyncEngine) -> list[ClaimedOperation]:
    """Claim as a worker does: the lock-free claim, then the keyed one."""
    args: dict[str, Any] = {
        "owner": "tests",
        "queues": ["default"],
        "kinds": ["test.record"],
        "limit": 10,
        "lease_seconds": 30,
    }
    async with engine.begin() as conn:
        claimed = await claims.claim_batch(conn, **args)
    async with engine.begin() as conn:
        return claimed + await claims.claim_keyed(conn, **args)


async def complete(engine: AsyncEngine, op: ClaimedOperation) -> None:
    async with engine.begin() as conn:
        won = await repository.finish_batch(
            conn,
            owner="tests",
            outcomes=[Outcome(op.id, op.attempt, "completed", {})],
            retention_seconds=60,
        )
    assert won == {op.id}


async def test_requests_join_the_pending_operation_with_their_key(
    sessionmaker: Sessions, registry: Registry, caller: ApiCaller
) -> None:
    first = await create(sessionmaker, registry, caller)

    assert await create(sessionmaker, registry, caller) == first
    assert await create(sessionmaker, registry, caller) == first


async def test_a_request_while_one_processes_queues_one_follow_up_that_runs_after_it(
    engine: AsyncEngine, sessionmaker: Sessions, registry: Registry, caller: ApiCaller
) -> None:
    first = await create(sessionmaker, registry, caller)
    [running] = await claim(engine)
    assert running.id == first

    follow_up = await create(sessionmaker, registry, caller)
    joined = await create(sessionmaker, registry, caller)
    held_back = await claim(engine)
    await complete(engine, running)
    [next_one] = await claim(engine)

    assert follow_up != first
    assert joined == follow_up
    assert held_back == []
    assert next_one.id == follow_up


async def test_a_joined_operation_cannot_start_before_the_joining_request_commits(
    engine: AsyncEngine, sessionmaker: Sessions, registry: Registry, caller: ApiCaller
) -> None:
    first = await create(sessionmaker, registry, caller)

    async with sessionmaker() as session:
        joined = await service.create_operation(
            session,
            registry,
            tenant_id=caller.tenant_id,  # type: ignore[arg-type]
            principal_id=caller.principal_id,  # type: ignore[arg-type]
            kind="test.record",
            params={},
            coalesce_key=KEY,
        )
        while_joining = await claim(engine)
        await session.commit()
    after_commit = await claim(engine)

    assert joined.id == first
    assert while_joining == []
    assert [op.id for op in after_commit] == [first]


async def test_a_burst_of_fifty_requests_runs_at_most_twice(
    database_url: str,
    sessionmaker: Sessions,
    registry: Registry,
    caller: ApiCaller,
    settings: Settings,
) -> None:
    await create_runs_table(sessionmaker)
    start = asyncio.Event()

    async def one() -> uuid.UUID:
        await start.wait()
        # Each run takes a second, so the whole burst arrives while the first runs.
        return await create(sessionmaker, registry, caller, seconds=1.0)

    async with running_worker(database_url, registry, settings):
        first = await create(sessionmaker, registry, caller, seconds=1.0)
        await wait_until(sessionmaker, first, {"processing"})
        tasks = [asyncio.create_task(one()) for _ in range(50)]
        start.set()
        ids = set(await asyncio.gather(*tasks)) | {first}
        for op_id in ids:
            await wait_until(sessionmaker, op_id, {"completed"})

    runs = await recorded_runs(sessionmaker)
    assert len(ids) == 2
    assert len(runs) == 2
    assert {op_id for op_id, _, _ in runs} == ids


async def test_debounce_pushes_the_start_back_with_each_request_up_to_the_maximum(
    sessionmaker: Sessions, registry: Registry, caller: ApiCaller
) -> None:
    options = {"debounce": timedelta(seconds=10), "max_delay": timedelta(seconds=15)}

    op_id = await create(sessionmaker, registry, caller, **options)
    first = await fetch(sessionmaker, op_id)
    assert await create(sessionmaker, registry, caller, **options) == op_id
    pushed = await fetch(sessionmaker, op_id)

    assert first.status == "pending"
    assert first.run_after == first.created_at + timedelta(seconds=10)
    assert first.run_after < pushed.run_after <= first.created_at + timedelta(seconds=15)
    assert pushed.version == first.version + 1


async def test_debounce_never_pushes_past_the_maximum_delay(
    sessionmaker: Sessions, registry: Registry, caller: ApiCaller
) -> None:
    options = {"debounce": timedelta(seconds=10), "max_delay": timedelta(seconds=10)}

    op_id = await create(sessionmaker, registry, caller, **options)
    for _ in range(3):
        await create(sessionmaker, registry, caller, **options)
    op = await fetch(sessionmaker, op_id)

    assert op.run_after == op.created_at + timedelta(seconds=10)


async def test_coalescing_is_scoped_to_the_key(
    sessionmaker: Sessions, registry: Registry, caller: ApiCaller
) -> None:
    first = await create(sessionmaker, registry, caller)
    async with sessionmaker() as session:
        other = await service.create_operation(
            session,
            registry,
            tenant_id=caller.tenant_id,  # type: ignore[arg-type]
            principal_id=caller.principal_id,  # type: ignore[arg-type]
            kind="test.record",
            params={},
            coalesce_key="review-cycle:8",
        )
        await session.commit()

    assert other.id != first
