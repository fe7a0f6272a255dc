"""Operations for features and for the API: create (one, a chain's next, a batch), read,
list, cancel, forget, wait."""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel
from sqlalchemy import bindparam, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from backend.auth.service import Caller
from backend.ids import new_id
from backend.operations import repository, scheduling

# Batches are part of the API for features (re-exported).
from backend.operations.batches import MAX_BATCH_SIZE as MAX_BATCH_SIZE
from backend.operations.batches import BatchItem as BatchItem
from backend.operations.batches import BatchView as BatchView
from backend.operations.batches import create_batch as create_batch
from backend.operations.batches import get_batch as get_batch
from backend.operations.exceptions import (
    InvalidPageToken,
    OperationExpired,
    OperationNotFound,
    OperationStillActive,
)
from backend.operations.listener import ChangeWaiters
from backend.operations.models import Operation, OperationBatch
from backend.operations.registry import Registry, running_registry
from backend.operations.repository import CANCELLED_ERROR
from backend.operations.scheduling import NewOperation
from backend.operations.states import ACTIVE, TERMINAL, Status
from backend.operations.visibility import Scope, as_reader

if TYPE_CHECKING:
    from backend.operations.context import OperationContext


async def create_operation(
    session: AsyncSession,
    registry: Registry,
    *,
    tenant_id: uuid.UUID,
    principal_id: uuid.UUID | None,
    kind: str,
    params: BaseModel | dict[str, Any],
    target: str | None = None,
    priority: int = 0,
    delay: timedelta | None = None,
    dedup_key: str | None = None,
    coalesce_key: str | None = None,
    debounce: timedelta | None = None,
    max_delay: timedelta | None = None,
    concurrency_key: str | None = None,
    parent_id: uuid.UUID | None = None,
    batch_id: uuid.UUID | None = None,
) -> Operation:
    """Add an operation of a registered kind to the caller's transaction, and answer it
    (or the operation a dedup or coalesce key led to: answer 202 with it all the same).

    Parameters are validated against the kind's model before anything is written.
    Workers are woken by a NOTIFY that PostgreSQL delivers only when the caller's
    transaction commits, so no worker ever sees a row that might roll back.

    Scheduling controls (docs/scheduling.md): ``priority`` (lower runs first) and
    ``delay``; ``dedup_key``: while an operation with the key is pending or processing
    in the tenant, answer it instead; ``coalesce_key``: join the pending operation with
    the key, or queue one that runs after the processing one, optionally starting
    ``debounce`` after the latest request but no later than ``max_delay`` after the
    first; ``concurrency_key``: at most the kind's ``concurrency_limit`` of these run
    at once; ``parent_id``: the operation this one continues (a chain); ``batch_id``:
    the batch it belongs to.
    """
    spec = registry.get(kind)
    validated = params if isinstance(params, spec.params) else spec.params.model_validate(params)
    scheduling.check_keys(dedup_key, coalesce_key, concurrency_key)
    limit: int | None = None
    if coalesce_key is not None:
        # A coalesced operation must not start while the previous one with its key runs.
        concurrency_key, limit = coalesce_key, 1
    elif concurrency_key is not None:
        limit = spec.concurrency_limit
    debounce_s, max_delay_s = scheduling.debounce_seconds(coalesce_key, debounce, max_delay)
    delay_s = max(delay.total_seconds() if delay else 0.0, debounce_s or 0.0)
    if parent_id is not None or batch_id is not None:
        await scheduling.check_links(session, tenant_id, parent_id, batch_id)
    new = NewOperation(
        id=new_id(),
        tenant_id=tenant_id,
        principal_id=principal_id,
        kind=kind,
        queue=spec.queue,
        target=target,
        params=validated.model_dump_json(),
        max_attempts=spec.max_attempts,
        priority=priority,
        delay=delay_s,
        dedup_key=dedup_key,
        coalesce_key=coalesce_key,
        concurrency_key=concurrency_key,
        concurrency_limit=limit,
        parent_id=parent_id,
        batch_id=batch_id,
        retention=spec.retention,
    )
    op = await scheduling.insert_operation(session, new, debounce=debounce_s, max_delay=max_delay_s)
    if parent_id is not None:
        session.info.setdefault(scheduling.NEW_CHILDREN, set()).add(parent_id)
    return op


async def create_child_operation(
    ctx: OperationContext,
    kind: str,
    params: BaseModel | dict[str, Any],
    **options: Any,
) -> Operation:
    """From a handler: create the next operation of a chain, in the transaction that
    completes this one (``ctx.session``): it exists if and only if this one completes.

    Same tenant, principal and options as ``create_operation``; ``parent_id`` is the
    running operation. Cancelling the parent later cancels the child while pending.
    """
    return await create_operation(
        ctx.session,
        running_registry(),
        tenant_id=ctx.tenant_id,
        principal_id=ctx.principal_id,
        kind=kind,
        params=params,
        parent_id=ctx.operation_id,
        **options,
    )


def validate_params(registry: Registry, kind: str, params: dict[str, Any]) -> BaseModel:
    """Validate parameters for a kind without writing anything (raises ValidationError)."""
    return registry.get(kind).params.model_validate(params)


async def get_operation(session: AsyncSession, scope: Scope, op_id: uuid.UUID) -> Operation:
    """The operation by id (primary key), if ``scope`` sees it. One whose retention has
    passed is gone for clients even before the leader prunes it: OPERATION_EXPIRED."""
    row = (await session.execute(_OPERATION_BY_ID, {"op_id": op_id})).first()
    if row is None or not as_reader(scope).sees_row(row.Operation):
        raise OperationNotFound()
    if row.expired:
        raise OperationExpired()
    op: Operation = row.Operation
    return op


# Built once: SQLAlchemy computes a statement's cache key on every execution unless it
# is the same statement object (most of a GET's database-side Python time otherwise).
# Visibility is checked on the row read (Reader.sees_row), not in the statement.
_OPERATION_BY_ID = select(Operation, scheduling.expired()).where(Operation.id == bindparam("op_id"))


@dataclass(frozen=True)
class ListFilters:
    statuses: list[Status]
    kind: str | None = None
    target: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    batch_id: uuid.UUID | None = None
    parent_id: uuid.UUID | None = None


def encode_page_token(last_id: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(b"v1:" + last_id.bytes).decode().rstrip("=")


def decode_page_token(token: str) -> uuid.UUID:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        raise InvalidPageToken() from None
    if not raw.startswith(b"v1:") or len(raw) != 19:
        raise InvalidPageToken()
    return uuid.UUID(bytes=raw[3:])


async def list_operations(
    session: AsyncSession,
    scope: Scope,
    filters: ListFilters,
    *,
    page_size: int,
    page_token: str | None,
) -> tuple[list[Operation], str | None]:
    """A page of the operations ``scope`` sees, newest first (keyset on the
    time-ordered id).

    Served by ix_operations_tenant_id, or by ix_operations_batch_id and
    ix_operations_parent_id when listing a batch or a chain's children. Expired
    operations are left out, as they are gone for clients.
    """
    stmt = select(Operation).where(
        as_reader(scope).sees(),
        or_(Operation.expires_at.is_(None), Operation.expires_at >= func.now()),
    )
    if filters.batch_id is not None:
        stmt = stmt.where(Operation.batch_id == filters.batch_id)
    if filters.parent_id is not None:
        stmt = stmt.where(Operation.parent_id == filters.parent_id)
    if filters.statuses:
        stmt = stmt.where(Operation.status.in_([s.value for s in filters.statuses]))
    if filters.kind is not None:
        stmt = stmt.where(Operation.kind == filters.kind)
    if filters.target is not None:
        stmt = stmt.where(Operation.target == filters.target)
    if filters.created_after is not None:
        stmt = stmt.where(Operation.created_at > filters.created_after)
    if filters.created_before is not None:
        stmt = stmt.where(Operation.created_at < filters.created_before)
    if page_token is not None:
        stmt = stmt.where(Operation.id < decode_page_token(page_token))
    rows = list(
        (await session.scalars(stmt.order_by(Operation.id.desc()).limit(page_size + 1))).all()
    )
    next_token = encode_page_token(rows[page_size - 1].id) if len(rows) > page_size else None
    return rows[:page_size], next_token


async def cancel_operation(
    session: AsyncSession, caller: Caller, op_id: uuid.UUID, *, retention: timedelta
) -> Operation:
    """Pending: cancelled at once. Processing: cancel requested, the worker stops the
    handler. Terminal: returned unchanged. In every case the operations a chain
    created after it are cancelled too while they have not finished.

    ``retention`` applies to operations whose kind has no retention of its own.
    """
    row = (
        await session.execute(
            select(Operation, scheduling.expired())
            .where(Operation.id == op_id, Operation.tenant_id == caller.tenant_id)
            # NO KEY UPDATE: a completing parent's new children (their foreign key
            # takes KEY SHARE on it) are not held up by a cancel, nor it by them.
            .with_for_update(of=Operation, key_share=True)
        )
    ).first()
    if row is None:
        raise OperationNotFound()
    if row.expired:
        raise OperationExpired()
    op: Operation = row.Operation
    if op.state is Status.pending:
        await session.execute(
            update(Operation)
            .where(Operation.id == op.id)
            .values(
                status=Status.cancelled.value,
                cancel_requested=True,
                error=CANCELLED_ERROR,
                finished_at=func.now(),
                expires_at=func.now() + func.coalesce(Operation.retention, retention),
                version=Operation.version + 1,
                updated_at=func.now(),
            )
        )
        await repository.notify_changed(session, [op.id])
    elif op.state is Status.processing and not op.cancel_requested:
        await session.execute(
            update(Operation)
            .where(Operation.id == op.id)
            .values(cancel_requested=True, version=Operation.version + 1, updated_at=func.now())
        )
        await repository.notify_cancel(session, op.id)
        await repository.notify_changed(session, [op.id])
    await cancel_children(session, tenant_id=caller.tenant_id, parent_id=op.id, retention=retention)
    await session.refresh(op)
    return op


async def cancel_children(
    session: AsyncSession | AsyncConnection,
    *,
    tenant_id: uuid.UUID,
    parent_id: uuid.UUID,
    retention: timedelta,
) -> list[uuid.UUID]:
    """Cancel the unfinished operations a chain created after ``parent_id``."""
    changed = await scheduling.cancel_descendants(
        session, tenant_id=tenant_id, id=parent_id, retention_seconds=retention.total_seconds()
    )
    for child_id, status in changed:
        if status == Status.processing.value:
            await repository.notify_cancel(session, child_id)
    await repository.notify_changed(session, [child_id for child_id, _ in changed])
    return [child_id for child_id, _ in changed]


async def delete_operation(session: AsyncSession, caller: Caller, op_id: uuid.UUID) -> None:
    """Forget a finished operation; an active one is a 409. Its batch goes with the
    last of the batch's operations."""
    op = await get_operation(session, caller.tenant_id, op_id)
    if op.state in ACTIVE:
        raise OperationStillActive()
    await session.execute(delete(Operation).where(Operation.id == op.id))
    if op.batch_id is not None:
        remaining = select(Operation.id).where(Operation.batch_id == op.batch_id).exists()
        await session.execute(
            delete(OperationBatch).where(OperationBatch.id == op.batch_id, ~remaining)
        )


async def wait_for_operation(
    sessionmaker: async_sessionmaker[AsyncSession],
    waiters: ChangeWaiters,
    scope: Scope,
    op_id: uuid.UUID,
    timeout: float,
) -> Operation:
    """Hold until the operation is done or ``timeout`` passes; answer its latest state.

    Woken by LISTEN/NOTIFY through the process's one listener: the database is read
    once at the start and once per announced change, never polled.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    with waiters.watch(op_id) as changed:
        while True:
            changed.clear()
            # A short session per read: no connection is held while waiting.
            async with sessionmaker() as session:
                op = await get_operation(session, scope, op_id)
            remaining = deadline - loop.time()
            if op.state in TERMINAL or remaining <= 0:
                return op
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), timeout=remaining)
