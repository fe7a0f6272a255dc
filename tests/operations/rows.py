"""Move operation rows to a status directly in the database, as a worker would leave them.

The database refuses illegal transitions (pending → completed), so a terminal status
other than cancelled is reached through processing, like a real attempt.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.operations.models import Operation
from backend.operations.states import Status

FAILED_ERROR = {"code": "BOOM", "message": "The provider refused the input.", "retryable": False}


async def move_to(
    sessionmaker: async_sessionmaker[AsyncSession],
    op_id: uuid.UUID,
    status: Status,
    *,
    result: Any = None,
    error: dict[str, Any] | None = None,
) -> None:
    """Put a pending operation into ``status`` with the fields that status implies."""
    async with sessionmaker() as session:
        if status is not Status.pending and status is not Status.cancelled:
            await _update(
                session,
                op_id,
                status=Status.processing.value,
                attempt=Operation.attempt + 1,
                started_at=func.now(),
                lease_owner="tests",
                lease_expires_at=func.now() + timedelta(seconds=30),
            )
        if status.done:
            values: dict[str, Any] = {
                "status": status.value,
                "finished_at": func.now(),
                "lease_owner": None,
                "lease_expires_at": None,
            }
            if status is Status.completed:
                values["result"] = result if result is not None else {"answer": 42}
            if status is Status.failed:
                values["error"] = error or FAILED_ERROR
            if status is Status.cancelled:
                values["error"] = error or {
                    "code": "CANCELLED",
                    "message": "Cancelled.",
                    "retryable": False,
                }
            await _update(session, op_id, **values)
        await session.commit()


async def set_created_at(
    sessionmaker: async_sessionmaker[AsyncSession], op_id: uuid.UUID, created_at: datetime
) -> None:
    async with sessionmaker() as session:
        await _update(session, op_id, created_at=created_at)
        await session.commit()


async def _update(session: AsyncSession, op_id: uuid.UUID, **values: Any) -> None:
    await session.execute(
        update(Operation)
        .where(Operation.id == op_id)
        .values(version=Operation.version + 1, updated_at=func.now(), **values)
    )
