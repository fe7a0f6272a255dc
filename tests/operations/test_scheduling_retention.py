"""Retention: expired operations answer OPERATION_EXPIRED until the leader prunes them,
in bounded batches, with exactly what expired."""

from __future__ import annotations

import uuid
from datetime import timedelta

import httpx
from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from backend.config import Settings
from backend.operations import maintenance, service
from backend.operations.models import Operation, OperationBatch
from backend.operations.registry import Registry
from backend.operations.states import Status
from tests.conftest import ApiCaller
from tests.factories import fetch, running_worker, submit, wait_until
from tests.operations.rows import move_to

Sessions = async_sessionmaker[AsyncSession]


async def expire(sessions: Sessions, *ids: uuid.UUID) -> None:
    """Finished long enough ago that their retention has passed."""
    async with sessions() as session:
        await session.execute(
            update(Operation)
            .where(Operation.id.in_(ids))
            .values(expires_at=func.now() - timedelta(minutes=1))
        )
        await session.commit()


async def finished(sessions: Sessions, registry: Registry, caller: ApiCaller) -> uuid.UUID:
    """A completed operation that expires tomorrow."""
    op_id = await submit(sessions, registry, caller, "test.echo")
    await move_to(sessions, op_id, Status.completed)
    async with sessions() as session:
        await session.execute(
            update(Operation)
            .where(Operation.id == op_id)
            .values(expires_at=func.now() + timedelta(days=1))
        )
        await session.commit()
    return op_id


async def test_a_kind_with_its_own_retention_expires_after_it(
    database_url: str,
    sessionmaker: Sessions,
    registry: Registry,
    caller: ApiCaller,
    settings: Settings,
) -> None:
    brief = await submit(sessionmaker, registry, caller, "test.brief")
    usual = await submit(sessionmaker, registry, caller, "test.echo")

    async with running_worker(database_url, registry, settings):
        brief_op = await wait_until(sessionmaker, brief, {"completed"})
        usual_op = await wait_until(sessionmaker, usual, {"completed"})

    assert brief_op.finished_at is not None and usual_op.finished_at is not None
    assert brief_op.expires_at == brief_op.finished_at + timedelta(hours=1)
    assert usual_op.expires_at == usual_op.finished_at + timedelta(
        seconds=settings.operations.retention_seconds
    )


async def test_a_cancelled_pending_operation_keeps_its_kinds_retention(
    sessionmaker: Sessions, registry: Registry, caller: ApiCaller, client: httpx.AsyncClient
) -> None:
    op_id = await submit(sessionmaker, registry, caller, "test.brief")

    await client.post(f"/api/v1/operations/{op_id}/cancel", headers=caller.headers)
    op = await fetch(sessionmaker, op_id)

    assert op.status == "cancelled"
    assert op.finished_at is not None
    assert op.expires_at == op.finished_at + timedelta(hours=1)


async def test_an_expired_operation_answers_operation_expired_until_pruned(
    sessionmaker: Sessions, registry: Registry, caller: ApiCaller, client: httpx.AsyncClient
) -> None:
    op_id = await finished(sessionmaker, registry, caller)
    await expire(sessionmaker, op_id)
    url = f"/api/v1/operations/{op_id}"

    answers = [
        await client.get(url, headers=caller.headers),
        await client.get(url + "/wait?timeout=0", headers=caller.headers),
        await client.post(url + "/cancel", headers=caller.headers),
        await client.delete(url, headers=caller.headers),
    ]

    assert [a.status_code for a in answers] == [404, 404, 404, 404]
    assert {a.json()["code"] for a in answers} == {"OPERATION_EXPIRED"}
    assert (await fetch(sessionmaker, op_id)).id == op_id  # still there until pruned


async def test_expired_operations_are_left_out_of_lists(
    sessionmaker: Sessions, registry: Registry, caller: ApiCaller, client: httpx.AsyncClient
) -> None:
    kept = await finished(sessionmaker, registry, caller)
    gone = await finished(sessionmaker, registry, caller)
    await expire(sessionmaker, gone)

    body = (await client.get("/api/v1/operations", headers=caller.headers)).json()

    assert [op["id"] for op in body["operations"]] == [str(kept)]


async def test_pruning_removes_exactly_what_expired_in_bounded_batches(
    engine: AsyncEngine, sessionmaker: Sessions, registry: Registry, caller: ApiCaller
) -> None:
    expired = [await finished(sessionmaker, registry, caller) for _ in range(7)]
    kept = [await finished(sessionmaker, registry, caller) for _ in range(3)]
    active = [await submit(sessionmaker, registry, caller, "test.echo") for _ in range(2)]
    await expire(sessionmaker, *expired)

    rounds = []
    while True:
        async with engine.begin() as conn:
            pruned = await maintenance.prune_expired(conn, limit=3)
        rounds.append(pruned.operations)
        if pruned.operations < 3:
            break

    async with sessionmaker() as session:
        left = set((await session.scalars(select(Operation.id))).all())
    assert rounds == [3, 3, 1]
    assert left == set(kept) | set(active)


async def test_pruning_takes_a_batch_with_its_last_operation_and_unlinks_children(
    engine: AsyncEngine, sessionmaker: Sessions, registry: Registry, caller: ApiCaller
) -> None:
    async with sessionmaker() as session:
        whole = await service.create_batch(
            session,
            registry,
            tenant_id=caller.tenant_id,  # type: ignore[arg-type]
            principal_id=caller.principal_id,  # type: ignore[arg-type]
            kind="test.echo",
            items=[service.BatchItem(params={}) for _ in range(2)],
        )
        partly = await service.create_batch(
            session,
            registry,
            tenant_id=caller.tenant_id,  # type: ignore[arg-type]
            principal_id=caller.principal_id,  # type: ignore[arg-type]
            kind="test.echo",
            items=[service.BatchItem(params={}) for _ in range(2)],
        )
        await session.commit()
    whole_ids = [op_id for op_id, _ in whole.statuses]
    partly_ids = [op_id for op_id, _ in partly.statuses]
    for op_id in whole_ids + partly_ids:
        await move_to(sessionmaker, op_id, Status.completed)
    parent = await finished(sessionmaker, registry, caller)
    child = await submit(sessionmaker, registry, caller, "test.echo", parent_id=parent)
    await expire(sessionmaker, *whole_ids, partly_ids[0], parent)

    async with engine.begin() as conn:
        pruned = await maintenance.prune_expired(conn, limit=100)

    async with sessionmaker() as session:
        batches = set((await session.scalars(select(OperationBatch.id))).all())
        events = await session.scalar(
            text("SELECT count(*) FROM operation_events WHERE operation_id = ANY(:ids)"),
            {"ids": [*whole_ids, partly_ids[0], parent]},
        )
    assert (pruned.operations, pruned.batches) == (4, 1)
    assert batches == {partly.batch.id}
    assert (await fetch(sessionmaker, child)).parent_id is None
    assert events == 0


async def test_deleting_the_last_operation_of_a_batch_deletes_the_batch(
    sessionmaker: Sessions, registry: Registry, caller: ApiCaller, client: httpx.AsyncClient
) -> None:
    async with sessionmaker() as session:
        view = await service.create_batch(
            session,
            registry,
            tenant_id=caller.tenant_id,  # type: ignore[arg-type]
            principal_id=caller.principal_id,  # type: ignore[arg-type]
            kind="test.echo",
            items=[service.BatchItem(params={})],
        )
        await session.commit()
    [(op_id, _)] = view.statuses
    await move_to(sessionmaker, op_id, Status.completed)

    await client.delete(f"/api/v1/operations/{op_id}", headers=caller.headers)
    response = await client.get(f"/api/v1/batches/{view.batch.id}", headers=caller.headers)

    assert response.json()["code"] == "BATCH_NOT_FOUND"
