"""Deduplication: one active operation per key and tenant, however many racing creates."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request, Response
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.auth.dependencies import DbSession, WritingCaller
from backend.config import Settings
from backend.db import create_engine, create_sessionmaker
from backend.operations import http, service
from backend.operations.models import Operation
from backend.operations.registry import Registry
from backend.operations.states import Status
from tests.conftest import ApiCaller, KeyFactory
from tests.operations.rows import move_to

Sessions = async_sessionmaker[AsyncSession]

# Real connections racing at once. The test server allows 100 connections in all and
# other tests may run beside this one, so 100 creates share this many connections.
RACING_CONNECTIONS = 40


@pytest.fixture
async def racing_sessions(database_url: str, settings: Settings) -> AsyncIterator[Sessions]:
    """Sessions of a pool opened in full before the race starts."""
    engine = create_engine(
        database_url,
        settings.model_copy(
            update={
                "database": settings.database.model_copy(
                    update={"pool_size": RACING_CONNECTIONS, "max_overflow": 0}
                )
            }
        ),
    )
    sessions = create_sessionmaker(engine)

    async def touch() -> None:
        async with sessions() as session:
            await session.execute(select(1))
            await asyncio.sleep(0.2)  # hold it so that every connection gets opened

    await asyncio.gather(*(touch() for _ in range(RACING_CONNECTIONS)))
    yield sessions
    await engine.dispose()


async def create(
    sessions: Sessions, registry: Registry, caller: ApiCaller, **options: Any
) -> uuid.UUID:
    async with sessions() as session:
        op = await service.create_operation(
            session,
            registry,
            tenant_id=caller.tenant_id,  # type: ignore[arg-type]
            principal_id=caller.principal_id,  # type: ignore[arg-type]
            kind="test.echo",
            params={"value": "report"},
            **options,
        )
        await session.commit()
        return op.id


async def count_operations(sessions: Sessions) -> int:
    async with sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(Operation)) or 0)


async def test_a_hundred_racing_identical_creates_make_one_operation(
    racing_sessions: Sessions, registry: Registry, caller: ApiCaller
) -> None:
    start = asyncio.Event()

    async def one() -> uuid.UUID:
        await start.wait()
        return await create(racing_sessions, registry, caller, dedup_key="report:42")

    tasks = [asyncio.create_task(one()) for _ in range(100)]
    await asyncio.sleep(0.05)
    start.set()
    ids = await asyncio.gather(*tasks)

    assert len(set(ids)) == 1
    assert await count_operations(racing_sessions) == 1


async def test_a_processing_operation_is_answered_for_its_key_too(
    sessionmaker: Sessions, registry: Registry, caller: ApiCaller
) -> None:
    first = await create(sessionmaker, registry, caller, dedup_key="report:42")
    await move_to(sessionmaker, first, Status.processing)

    assert await create(sessionmaker, registry, caller, dedup_key="report:42") == first


async def test_a_finished_operation_frees_its_key_for_a_new_one(
    sessionmaker: Sessions, registry: Registry, caller: ApiCaller
) -> None:
    first = await create(sessionmaker, registry, caller, dedup_key="report:42")
    await move_to(sessionmaker, first, Status.completed)

    second = await create(sessionmaker, registry, caller, dedup_key="report:42")

    assert second != first
    assert await count_operations(sessionmaker) == 2


async def test_keys_are_scoped_to_the_tenant(
    sessionmaker: Sessions, registry: Registry, caller: ApiCaller, make_caller: KeyFactory
) -> None:
    other = await make_caller()

    mine = await create(sessionmaker, registry, caller, dedup_key="report:42")
    theirs = await create(sessionmaker, registry, other, dedup_key="report:42")

    assert mine != theirs


async def test_operations_without_a_key_are_never_deduplicated(
    sessionmaker: Sessions, registry: Registry, caller: ApiCaller
) -> None:
    ids = {await create(sessionmaker, registry, caller) for _ in range(3)}

    assert len(ids) == 3


async def test_a_deduplicated_create_in_a_rolled_back_transaction_leaves_nothing(
    sessionmaker: Sessions, registry: Registry, caller: ApiCaller
) -> None:
    async with sessionmaker() as session:
        await service.create_operation(
            session,
            registry,
            tenant_id=caller.tenant_id,  # type: ignore[arg-type]
            principal_id=caller.principal_id,  # type: ignore[arg-type]
            kind="test.echo",
            params={},
            dedup_key="report:42",
        )
        await session.rollback()

    assert await count_operations(sessionmaker) == 0
    assert await create(sessionmaker, registry, caller, dedup_key="report:42")


@pytest.mark.parametrize(
    "options",
    [
        {"dedup_key": "a", "coalesce_key": "a"},
        {"coalesce_key": "a", "concurrency_key": "b"},
        {"dedup_key": ""},
        {"dedup_key": "x" * 201},
        {"debounce": timedelta(seconds=5)},
    ],
    ids=["dedup-and-coalesce", "two-keys", "empty-key", "long-key", "debounce-alone"],
)
async def test_meaningless_key_combinations_are_refused_before_writing(
    sessionmaker: Sessions, registry: Registry, caller: ApiCaller, options: dict[str, Any]
) -> None:
    with pytest.raises(ValueError):
        await create(sessionmaker, registry, caller, **options)

    assert await count_operations(sessionmaker) == 0


async def test_a_repeated_request_is_answered_202_with_the_same_operation_and_location(
    app: FastAPI, client: httpx.AsyncClient, caller: ApiCaller
) -> None:
    async def create_report(request: Request, session: DbSession, who: WritingCaller) -> Response:
        op = await service.create_operation(
            session,
            request.app.state.registry,
            tenant_id=who.tenant_id,
            principal_id=who.principal_id,
            kind="test.echo",
            params={"value": "report"},
            dedup_key="report:42",
        )
        return http.accepted(request, op)

    app.add_api_route("/test/reports", create_report, methods=["POST"])

    first = await client.post("/test/reports", headers=caller.headers)
    again = await client.post("/test/reports", headers=caller.headers)

    assert (first.status_code, again.status_code) == (202, 202)
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["location"] == first.headers["location"]
    assert again.headers["location"].endswith(f"/api/v1/operations/{first.json()['id']}")
