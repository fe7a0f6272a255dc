"""Links from a feedback resource to the operation (re)generating it."""

from __future__ import annotations

import uuid

from fastapi import Request
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.operations.http import operation_url
from backend.operations.models import Operation
from backend.operations.states import ACTIVE, Status


class OperationRef(BaseModel):
    """A generation of the resource: follow it at `url`."""

    id: uuid.UUID
    status: Status = Field(
        description="pending or processing: it will cover the newer input; failed or "
        "cancelled: its error says why the resource was not brought up to date."
    )
    url: str = Field(description="GET it, /wait on it, or stream its /events.")


def unless_completed(op: Operation | None) -> Operation | None:
    """The newest generation, unless it completed (then the resource shows its work, or
    it had nothing to change): what a reader of a stale resource wants to follow."""
    return op if op is not None and op.state is not Status.completed else None


async def operation_by_id(
    session: AsyncSession, tenant_id: uuid.UUID, op_id: uuid.UUID | None
) -> Operation | None:
    """The tenant's operation by primary key; None once it was pruned (or never was)."""
    if op_id is None:
        return None
    found: Operation | None = await session.scalar(
        select(Operation).where(Operation.id == op_id, Operation.tenant_id == tenant_id)
    )
    return found


def operation_ref(request: Request, op: Operation | None) -> OperationRef | None:
    if op is None:
        return None
    return OperationRef(id=op.id, status=op.state, url=operation_url(request, op))


def generation_note(op: Operation | None) -> tuple[str, dict[str, str]]:
    """A sentence and problem+json members telling a reader of a missing summary about
    its generation, if there is one to follow."""
    if op is None:
        return "", {}
    if op.state in ACTIVE:
        note = " It is being generated: follow operation_id."
    else:
        note = " Its last generation did not finish: operation_id shows why."
    return note, {"operation_id": str(op.id), "operation_status": op.status}
