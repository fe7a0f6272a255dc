"""Small helpers to create operations and read them back in tests."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.operations import service
from backend.operations.models import Operation
from backend.operations.registry import Registry
from tests.conftest import ApiCaller


async def submit(
    sessionmaker: async_sessionmaker[AsyncSession],
    registry: Registry,
    caller: ApiCaller,
    kind: str,
    params: dict[str, Any] | None = None,
    **options: Any,
) -> uuid.UUID:
    async with sessionmaker() as session:
        op = await service.create_operation(
            session,
            registry,
            tenant_id=caller.tenant_id,  # type: ignore[arg-type]
            principal_id=caller.principal_id,  # type: ignore[arg-type]
            kind=kind,
            params=params or {},
            **options,
        )
        await session.commit()
        return op.id


async def fetch(sessionmaker: async_sessionmaker[AsyncSession], op_id: uuid.UUID) -> Operation:
    async with sessionmaker() as session:
        op = await session.scalar(select(Operation).where(Operation.id == op_id))
        assert op is not None
        return op


async def wait_until(
    sessionmaker: async_sessionmaker[AsyncSession],
    op_id: uuid.UUID,
    statuses: set[str],
    timeout: float = 15.0,
) -> Operation:
    """Poll the row until it reaches one of ``statuses`` (test helper, not a timing claim)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        op = await fetch(sessionmaker, op_id)
        if op.status in statuses:
            return op
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"operation {op_id} still {op.status} after {timeout}s")
        await asyncio.sleep(0.05)
