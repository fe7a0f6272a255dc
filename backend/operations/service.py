"""Operations for features and for the API: create, read, list, cancel, forget, wait."""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel
from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.auth.service import Caller
from backend.operations import repository
from backend.operations.exceptions import (
    InvalidPageToken,
    OperationNotFound,
    OperationStillActive,
)
from backend.operations.listener import ChangeWaiters
from backend.operations.models import Operation
from backend.operations.registry import Registry
from backend.operations.repository import CANCELLED_ERROR
from backend.operations.states import ACTIVE, TERMINAL, Status


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
) -> Operation:
    """Add an operation of a registered kind to the caller's transaction.

    Parameters are validated against the kind's model before anything is written.
    Workers are woken by a NOTIFY that PostgreSQL delivers only when the caller's
    transaction commits, so no worker ever sees a row that might roll back.
    """
    spec = registry.get(kind)
    validated = params if isinstance(params, spec.params) else spec.params.model_validate(params)
    op = Operation(
        tenant_id=tenant_id,
        principal_id=principal_id,
        kind=kind,
        queue=spec.queue,
        target=target,
        params=validated.model_dump(mode="json"),
        max_attempts=spec.max_attempts,
        priority=priority,
    )
    if delay is not None and delay.total_seconds() > 0:
        op.run_after = func.now() + delay
    session.add(op)
    await session.flush()
    await session.refresh(op)
    await repository.notify_pending(session, spec.queue)
    return op


def validate_params(registry: Registry, kind: str, params: dict[str, Any]) -> BaseModel:
    """Validate parameters for a kind without writing anything (raises ValidationError)."""
    return registry.get(kind).params.model_validate(params)


async def get_operation(session: AsyncSession, tenant_id: uuid.UUID, op_id: uuid.UUID) -> Operation:
    op = await session.scalar(
        select(Operation).where(Operation.id == op_id, Operation.tenant_id == tenant_id)
    )
    if op is None:
        raise OperationNotFound()
    return op


@dataclass(frozen=True)
class ListFilters:
    statuses: list[Status]
    kind: str | None = None
    target: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None


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
    tenant_id: uuid.UUID,
    filters: ListFilters,
    *,
    page_size: int,
    page_token: str | None,
) -> tuple[list[Operation], str | None]:
    """A page of the tenant's operations, newest first (keyset on the time-ordered id)."""
    stmt = select(Operation).where(Operation.tenant_id == tenant_id)
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
    handler. Terminal: returned unchanged."""
    op = await session.scalar(
        select(Operation)
        .where(Operation.id == op_id, Operation.tenant_id == caller.tenant_id)
        .with_for_update()
    )
    if op is None:
        raise OperationNotFound()
    if op.state is Status.pending:
        await session.execute(
            update(Operation)
            .where(Operation.id == op.id)
            .values(
                status=Status.cancelled.value,
                cancel_requested=True,
                error=CANCELLED_ERROR,
                finished_at=func.now(),
                expires_at=func.now() + retention,
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
    await session.refresh(op)
    return op


async def delete_operation(session: AsyncSession, caller: Caller, op_id: uuid.UUID) -> None:
    """Forget a finished operation; an active one is a 409."""
    op = await get_operation(session, caller.tenant_id, op_id)
    if op.state in ACTIVE:
        raise OperationStillActive()
    await session.execute(delete(Operation).where(Operation.id == op.id))


async def wait_for_operation(
    sessionmaker: async_sessionmaker[AsyncSession],
    waiters: ChangeWaiters,
    tenant_id: uuid.UUID,
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
                op = await get_operation(session, tenant_id, op_id)
            remaining = deadline - loop.time()
            if op.state in TERMINAL or remaining <= 0:
                return op
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), timeout=remaining)
