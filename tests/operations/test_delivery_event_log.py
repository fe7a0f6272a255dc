"""The event log: written by every writer, gap-free, fenced, shared reads, pruned."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any, cast

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from backend.auth.service import Caller
from backend.config import Settings
from backend.operations import event_store, service
from backend.operations.delivery_models import OperationEvent as EventRow
from backend.operations.event_store import OperationEvent, validate_event
from backend.operations.events import SharedReads
from backend.operations.registry import Registry
from backend.operations.states import Status
from tests.conftest import ApiCaller
from tests.factories import running_worker, submit, wait_until
from tests.operations.rows import move_to

Sessions = async_sessionmaker[AsyncSession]


def as_caller(caller: ApiCaller) -> Caller:
    return Caller(
        cast(uuid.UUID, caller.principal_id),
        cast(uuid.UUID, caller.tenant_id),
        caller.role,
        uuid.uuid4(),
    )


async def events_of(sessionmaker: Sessions, caller: ApiCaller, op_id: uuid.UUID) -> list[Any]:
    async with sessionmaker() as session:
        return await event_store.read_events(
            session,
            tenant_id=caller.tenant_id,  # type: ignore[arg-type]
            operation_id=op_id,
            after=0,
        )


async def test_a_retried_operation_has_one_event_per_change_without_gaps(
    caller: ApiCaller,
    sessionmaker: Sessions,
    registry: Registry,
    database_url: str,
    settings: Settings,
) -> None:
    op_id = await submit(
        sessionmaker, registry, caller, "test.fail", {"retryable": True, "fail_times": 1}
    )
    async with running_worker(database_url, registry, settings):
        finished = await wait_until(sessionmaker, op_id, {"completed"})

    events = await events_of(sessionmaker, caller, op_id)
    assert [e.seq for e in events] == list(range(1, finished.version + 1))
    assert [(e.type, e.data["status"]) for e in events] == [
        ("created", "pending"),
        ("status", "processing"),
        ("status", "pending"),
        ("status", "processing"),
        ("status", "completed"),
    ]
    assert events[2].data["error"]["code"] == "BOOM"
    assert events[-1].done and events[-1].data["result"] == {"succeeded_on_attempt": 2}


async def test_a_cancel_request_and_a_cancel_are_events(
    caller: ApiCaller, sessionmaker: Sessions, registry: Registry
) -> None:
    op_id = await submit(sessionmaker, registry, caller, "test.echo")
    await move_to(sessionmaker, op_id, Status.processing)
    async with sessionmaker() as session:
        await service.cancel_operation(
            session, as_caller(caller), op_id, retention=timedelta(hours=1)
        )
        await session.commit()

    events = await events_of(sessionmaker, caller, op_id)
    assert events[-1].type == "cancel_requested"
    assert events[-1].data["cancel_requested"] is True


async def test_an_event_from_an_attempt_that_lost_its_lease_is_not_written(
    caller: ApiCaller, sessionmaker: Sessions, registry: Registry, engine: AsyncEngine
) -> None:
    op_id = await submit(sessionmaker, registry, caller, "test.echo")
    await move_to(sessionmaker, op_id, Status.processing)  # lease_owner "tests", attempt 1

    async with engine.begin() as conn:
        lost = await event_store.emit(
            conn, owner="someone-else", id=op_id, attempt=1, type="text.delta", data={"t": 1}
        )
    async with engine.begin() as conn:
        kept = await event_store.emit(
            conn, owner="tests", id=op_id, attempt=1, type="text.delta", data={"t": 2}
        )

    events = await events_of(sessionmaker, caller, op_id)
    assert lost is None
    assert kept == 3
    assert [(e.seq, e.type, e.data) for e in events[-1:]] == [(3, "text.delta", {"t": 2})]


@pytest.mark.parametrize(
    ("type", "data"),
    [
        ("status", {}),
        ("snapshot", {}),
        ("Text Delta", {}),
        ("x" * 65, {}),
        ("text.delta", {"text": "x" * 70_000}),
    ],
)
def test_a_handler_event_with_a_reserved_or_bad_type_or_too_much_data_is_refused(
    type: str, data: Any
) -> None:
    with pytest.raises(ValueError):
        validate_event(type, data)


async def test_events_are_deleted_with_their_operation(
    caller: ApiCaller, sessionmaker: Sessions, registry: Registry
) -> None:
    op_id = await submit(sessionmaker, registry, caller, "test.echo")
    await move_to(sessionmaker, op_id, Status.cancelled)
    async with sessionmaker() as session:
        await service.delete_operation(session, as_caller(caller), op_id)
        await session.commit()

    async with sessionmaker() as session:
        count = await session.scalar(
            select(func.count()).select_from(EventRow).where(EventRow.operation_id == op_id)
        )
    assert count == 0


async def test_streams_woken_by_the_same_change_share_one_read(
    caller: ApiCaller,
    sessionmaker: Sessions,
    registry: Registry,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    op_id = await submit(sessionmaker, registry, caller, "test.echo")
    queries = 0
    original = event_store.read_events

    async def counted(*args: Any, **kwargs: Any) -> list[OperationEvent]:
        nonlocal queries
        queries += 1
        await asyncio.sleep(0.05)
        return await original(*args, **kwargs)

    monkeypatch.setattr(event_store, "read_events", counted)
    reads = SharedReads(sessionmaker)

    results = await asyncio.gather(
        *(reads.read(caller.tenant_id, op_id, 0) for _ in range(20))  # type: ignore[arg-type]
    )

    assert queries == 1
    assert all([e.seq for e in r] == [1] for r in results)
