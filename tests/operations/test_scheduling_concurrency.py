"""Concurrency keys, priorities and delays, as the claim enforces them."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from backend.config import Settings
from backend.operations import claims, service
from backend.operations.registry import Registry
from backend.operations.worker import Worker
from tests.conftest import ApiCaller
from tests.factories import running_worker, wait_until, wait_until_all
from tests.kinds import KEYED_RUNS_TABLE

Sessions = async_sessionmaker[AsyncSession]
LIMIT = 2  # test.keyed's concurrency_limit


async def create(
    sessions: Sessions, registry: Registry, caller: ApiCaller, kind: str, **options: Any
) -> uuid.UUID:
    params = options.pop("params", {})
    async with sessions() as session:
        op = await service.create_operation(
            session,
            registry,
            tenant_id=caller.tenant_id,  # type: ignore[arg-type]
            principal_id=caller.principal_id,  # type: ignore[arg-type]
            kind=kind,
            params=params,
            **options,
        )
        await session.commit()
        return op.id


async def create_keyed(
    sessions: Sessions, registry: Registry, caller: ApiCaller, key: str, seconds: float = 0.1
) -> uuid.UUID:
    return await create(
        sessions,
        registry,
        caller,
        "test.keyed",
        params={"key": key, "seconds": seconds},
        concurrency_key=key,
    )


async def most_running_at_once(sessions: Sessions) -> dict[str, int]:
    """Per key, the most runs of test.keyed that overlapped in time, and the most
    processing operations any of them saw in the database when it started."""
    async with sessions() as session:
        rows = (
            await session.execute(
                text(
                    """
                    SELECT r.key,
                           max((SELECT count(*) FROM test_keyed_runs o
                                WHERE o.key = r.key AND o.started_at <= r.started_at
                                  AND o.finished_at > r.started_at)) AS overlapping,
                           max(r.processing_seen) AS seen
                    FROM test_keyed_runs r GROUP BY r.key
                    """
                )
            )
        ).all()
    return {r.key: max(r.overlapping, r.seen) for r in rows}


@contextlib.asynccontextmanager
async def racing_workers(
    database_url: str, registry: Registry, settings: Settings, kinds: list[list[str]]
) -> AsyncIterator[list[Worker]]:
    """One worker (own engine and connections) per entry of ``kinds``, running those."""
    async with contextlib.AsyncExitStack() as stack:
        yield [
            await stack.enter_async_context(
                running_worker(database_url, registry, settings, kinds=worker_kinds)
            )
            for worker_kinds in kinds
        ]


async def test_four_racing_workers_never_run_more_than_the_limit_per_key(
    database_url: str,
    sessionmaker: Sessions,
    registry: Registry,
    caller: ApiCaller,
    settings: Settings,
) -> None:
    async with sessionmaker() as session:
        await session.execute(text(KEYED_RUNS_TABLE))
        await session.commit()
    # Two kinds share the keys and each worker runs one of them, so racing workers
    # choose different rows of the same key: only an exact count per key keeps the
    # limit then (without the claim's lock, four of a key run at once here).
    kinds = ["test.keyed", "test.keyed_too"]
    keys = ["subject:1", "subject:2", "subject:3"]
    for i in range(120):
        key = keys[i % 3]
        await create(
            sessionmaker,
            registry,
            caller,
            kinds[i % 2],
            params={"key": key, "seconds": 0.02},
            concurrency_key=key,
        )

    async with racing_workers(database_url, registry, settings, [[k] for k in kinds * 2]):
        counts = await wait_until_all(sessionmaker, "completed", 120)

    assert counts == {"completed": 120}
    most = await most_running_at_once(sessionmaker)
    assert set(most) == set(keys)
    assert all(1 <= n <= LIMIT for n in most.values()), most


async def test_held_back_operations_start_as_soon_as_their_key_frees(
    database_url: str,
    sessionmaker: Sessions,
    registry: Registry,
    caller: ApiCaller,
    settings: Settings,
) -> None:
    async with sessionmaker() as session:
        await session.execute(text(KEYED_RUNS_TABLE))
        await session.commit()
    # A poll interval far longer than the test: only the wake-up on finishing helps.
    slow_poll = settings.model_copy(
        update={"worker": settings.worker.model_copy(update={"poll_interval": 60.0})}
    )
    ids = [await create_keyed(sessionmaker, registry, caller, "subject:1") for _ in range(5)]

    async with running_worker(database_url, registry, slow_poll):
        for op_id in ids:
            await wait_until(sessionmaker, op_id, {"completed"}, timeout=30)

    assert (await most_running_at_once(sessionmaker))["subject:1"] <= LIMIT


async def test_rows_held_back_by_their_key_do_not_block_the_rows_behind_them(
    database_url: str,
    sessionmaker: Sessions,
    registry: Registry,
    caller: ApiCaller,
    settings: Settings,
) -> None:
    async with sessionmaker() as session:
        await session.execute(text(KEYED_RUNS_TABLE))
        await session.commit()
    keyed = [
        await create(
            sessionmaker,
            registry,
            caller,
            "test.keyed",
            params={"key": "busy", "seconds": 1.0},
            concurrency_key="busy",
            priority=-1,
        )
        for _ in range(6)
    ]
    plain = [await create(sessionmaker, registry, caller, "test.echo") for _ in range(3)]

    async with running_worker(database_url, registry, settings):
        for op_id in plain:
            await wait_until(sessionmaker, op_id, {"completed"})
        states = [(await wait_until(sessionmaker, k, {"pending", "processing"})) for k in keyed]

    # Six one-second runs two at a time take three seconds; the plain ones did not wait.
    assert sum(op.status == "pending" for op in states) >= 2


async def claimed_order(engine: AsyncEngine, count: int) -> list[uuid.UUID]:
    order = []
    for _ in range(count):
        async with engine.begin() as conn:
            claimed = await claims.claim_batch(
                conn,
                owner="tests",
                queues=["default"],
                kinds=["test.echo", "test.keyed"],
                limit=1,
                lease_seconds=30,
            )
        if not claimed:
            async with engine.begin() as conn:
                claimed = await claims.claim_keyed(
                    conn,
                    owner="tests",
                    queues=["default"],
                    kinds=["test.echo", "test.keyed"],
                    limit=1,
                    lease_seconds=30,
                )
        order += [op.id for op in claimed]
    return order


async def test_lower_priority_values_are_claimed_first_then_oldest_first(
    engine: AsyncEngine, sessionmaker: Sessions, registry: Registry, caller: ApiCaller
) -> None:
    late = await create(sessionmaker, registry, caller, "test.echo", priority=5)
    normal_1 = await create(sessionmaker, registry, caller, "test.echo")
    urgent = await create(sessionmaker, registry, caller, "test.echo", priority=-3)
    normal_2 = await create(sessionmaker, registry, caller, "test.echo")
    keyed_urgent = await create(
        sessionmaker,
        registry,
        caller,
        "test.keyed",
        params={"key": "k"},
        concurrency_key="k",
        priority=-2,
    )

    order = await claimed_order(engine, 5)

    assert order == [urgent, keyed_urgent, normal_1, normal_2, late]


async def test_a_delayed_operation_is_pending_with_its_start_time_shown_and_not_claimed(
    engine: AsyncEngine,
    sessionmaker: Sessions,
    registry: Registry,
    caller: ApiCaller,
    client: httpx.AsyncClient,
) -> None:
    delayed = await create(sessionmaker, registry, caller, "test.echo", delay=timedelta(hours=1))
    now = await create(sessionmaker, registry, caller, "test.echo")

    order = await claimed_order(engine, 2)
    body = (await client.get(f"/api/v1/operations/{delayed}", headers=caller.headers)).json()

    assert order == [now]
    assert body["status"] == "pending"
    run_after, created_at = (datetime.fromisoformat(body[f]) for f in ("run_after", "created_at"))
    assert run_after - created_at == timedelta(hours=1)
