"""Chains: a handler creates the next operation in the transaction that completes its own."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.config import Settings
from backend.operations import service
from backend.operations.models import Operation
from backend.operations.registry import Registry
from backend.operations.states import Status
from tests.conftest import ApiCaller
from tests.factories import fetch, running_worker, submit, wait_until
from tests.kinds import CHAIN_GATES, ChainGate
from tests.operations.rows import move_to

Sessions = async_sessionmaker[AsyncSession]
RETENTION = timedelta(days=7)


async def children_of(sessions: Sessions, parent_id: uuid.UUID) -> list[Operation]:
    async with sessions() as session:
        return list(
            (await session.scalars(select(Operation).where(Operation.parent_id == parent_id))).all()
        )


async def run_chain(
    database_url: str,
    sessions: Sessions,
    registry: Registry,
    caller: ApiCaller,
    settings: Settings,
    **params: Any,
) -> uuid.UUID:
    parent = await submit(sessions, registry, caller, "test.chain", params)
    async with running_worker(database_url, registry, settings):
        await wait_until(sessions, parent, {"completed", "failed", "cancelled"})
    return parent


async def test_a_completed_step_creates_the_next_with_its_parent_linked(
    database_url: str,
    sessionmaker: Sessions,
    registry: Registry,
    caller: ApiCaller,
    settings: Settings,
    client: httpx.AsyncClient,
) -> None:
    parent = await submit(sessionmaker, registry, caller, "test.chain", {})
    async with running_worker(database_url, registry, settings):
        await wait_until(sessionmaker, parent, {"completed"})
        [child] = await children_of(sessionmaker, parent)
        await wait_until(sessionmaker, child.id, {"completed"})

    parent_body = (await client.get(f"/api/v1/operations/{parent}", headers=caller.headers)).json()
    listed = (await client.get(parent_body["links"]["children"], headers=caller.headers)).json()
    child_body = listed["operations"][0]

    assert parent_body["result"] == {"child": str(child.id)}
    assert [op["id"] for op in listed["operations"]] == [str(child.id)]
    assert child_body["parent_id"] == str(parent)
    assert child_body["links"]["parent"] == f"http://testserver/api/v1/operations/{parent}"
    assert (child.kind, child.tenant_id, child.principal_id) == (
        "test.echo",
        caller.tenant_id,
        caller.principal_id,
    )


async def test_a_step_that_fails_after_creating_its_next_leaves_no_next(
    database_url: str,
    sessionmaker: Sessions,
    registry: Registry,
    caller: ApiCaller,
    settings: Settings,
) -> None:
    parent = await run_chain(
        database_url, sessionmaker, registry, caller, settings, fail_after_child=True
    )

    assert (await fetch(sessionmaker, parent)).status == "failed"
    assert await children_of(sessionmaker, parent) == []


async def test_cancelling_a_finished_parent_cancels_its_pending_children(
    database_url: str,
    sessionmaker: Sessions,
    registry: Registry,
    caller: ApiCaller,
    settings: Settings,
    client: httpx.AsyncClient,
) -> None:
    parent = await run_chain(
        database_url, sessionmaker, registry, caller, settings, child_delay=3600
    )
    [child] = await children_of(sessionmaker, parent)
    assert child.status == "pending"

    response = await client.post(f"/api/v1/operations/{parent}/cancel", headers=caller.headers)
    cancelled = await fetch(sessionmaker, child.id)

    assert response.json()["status"] == "completed"
    assert cancelled.status == "cancelled"
    assert cancelled.error is not None and cancelled.error["code"] == "CANCELLED"


async def test_cancelling_a_parent_reaches_the_children_of_its_finished_children(
    sessionmaker: Sessions, registry: Registry, caller: ApiCaller, client: httpx.AsyncClient
) -> None:
    root = await submit(sessionmaker, registry, caller, "test.echo")
    middle = await submit(sessionmaker, registry, caller, "test.echo", parent_id=root)
    leaf = await submit(sessionmaker, registry, caller, "test.echo", parent_id=middle)
    unrelated = await submit(sessionmaker, registry, caller, "test.echo")
    await move_to(sessionmaker, middle, Status.completed)

    await client.post(f"/api/v1/operations/{root}/cancel", headers=caller.headers)

    assert (await fetch(sessionmaker, middle)).status == "completed"
    assert (await fetch(sessionmaker, leaf)).status == "cancelled"
    assert (await fetch(sessionmaker, unrelated)).status == "pending"


async def test_a_cancel_committed_while_the_parent_completes_still_cancels_the_new_child(
    database_url: str,
    sessionmaker: Sessions,
    registry: Registry,
    caller: ApiCaller,
    settings: Settings,
) -> None:
    gate = CHAIN_GATES["race"] = ChainGate()
    parent = await submit(
        sessionmaker, registry, caller, "test.chain", {"gate": "race", "child_delay": 3600}
    )
    async with running_worker(database_url, registry, settings):
        await gate.started.wait()
        async with sessionmaker() as cancel:
            # Hold the parent's row as a cancel does: the completion waits for it.
            await cancel.execute(
                select(Operation).where(Operation.id == parent).with_for_update(key_share=True)
            )
            gate.open.set()
            await gate.child_created.wait()
            # The child is not committed yet, so this cancel cannot see it.
            await service.cancel_operation(cancel, caller, parent, retention=RETENTION)  # type: ignore[arg-type]
            await cancel.commit()
        finished = await wait_until(sessionmaker, parent, {"completed", "cancelled"})
    del CHAIN_GATES["race"]

    [child] = await children_of(sessionmaker, parent)
    assert finished.status == "completed"
    assert finished.cancel_requested is True
    assert child.status == "cancelled"
