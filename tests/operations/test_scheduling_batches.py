"""Batches: many operations created by one request in one transaction, followed as one."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.auth.dependencies import DbSession, WritingCaller
from backend.operations import batch_router, service
from backend.operations.models import Operation, OperationBatch
from backend.operations.registry import Registry
from backend.operations.states import Status
from tests.conftest import ApiCaller, KeyFactory
from tests.operations.rows import move_to

Sessions = async_sessionmaker[AsyncSession]


async def create_batch(
    sessions: Sessions, registry: Registry, caller: ApiCaller, values: list[Any]
) -> service.BatchView:
    async with sessions() as session:
        view = await service.create_batch(
            session,
            registry,
            tenant_id=caller.tenant_id,  # type: ignore[arg-type]
            principal_id=caller.principal_id,  # type: ignore[arg-type]
            kind="test.echo",
            items=[
                service.BatchItem(params={"value": v}, target=f"https://example.com/s/{v}")
                for v in values
            ],
            target="https://example.com/evaluations/9",
        )
        await session.commit()
        return view


def batch_url(batch_id: uuid.UUID) -> str:
    return f"/api/v1/batches/{batch_id}"


async def test_a_batch_shows_its_counts_ids_and_links(
    client: httpx.AsyncClient, sessionmaker: Sessions, registry: Registry, caller: ApiCaller
) -> None:
    view = await create_batch(sessionmaker, registry, caller, ["ana", "ben", "cy"])
    ids = [op_id for op_id, _ in view.statuses]

    response = await client.get(batch_url(view.batch.id), headers=caller.headers)

    assert response.status_code == 200
    assert response.headers["retry-after"] == "1"
    body = response.json()
    assert body["total"] == 3
    assert body["counts"] == {
        "pending": 3,
        "processing": 0,
        "completed": 0,
        "failed": 0,
        "cancelled": 0,
    }
    assert body["done"] is False
    assert body["operation_ids"] == [str(i) for i in ids]
    assert body["target"] == "https://example.com/evaluations/9"
    assert body["links"] == {
        "self": f"http://testserver/api/v1/batches/{view.batch.id}",
        "operations": f"http://testserver/api/v1/operations?batch_id={view.batch.id}",
    }


async def test_a_batch_is_done_when_all_its_operations_are_done(
    client: httpx.AsyncClient, sessionmaker: Sessions, registry: Registry, caller: ApiCaller
) -> None:
    view = await create_batch(sessionmaker, registry, caller, ["ana", "ben", "cy"])
    first, second, third = (op_id for op_id, _ in view.statuses)
    await move_to(sessionmaker, first, Status.completed)
    await move_to(sessionmaker, second, Status.failed)

    halfway = (await client.get(batch_url(view.batch.id), headers=caller.headers)).json()
    await move_to(sessionmaker, third, Status.cancelled)
    response = await client.get(batch_url(view.batch.id), headers=caller.headers)

    assert halfway["done"] is False
    assert halfway["counts"]["pending"] == 1
    assert response.json()["done"] is True
    assert response.json()["counts"] == {
        "pending": 0,
        "processing": 0,
        "completed": 1,
        "failed": 1,
        "cancelled": 1,
    }
    assert "retry-after" not in response.headers


async def test_the_operations_of_a_batch_list_with_their_batch_link(
    client: httpx.AsyncClient, sessionmaker: Sessions, registry: Registry, caller: ApiCaller
) -> None:
    view = await create_batch(sessionmaker, registry, caller, ["ana", "ben"])
    await create_batch(sessionmaker, registry, caller, ["other"])
    ids = {str(op_id) for op_id, _ in view.statuses}

    body = (
        await client.get(
            "/api/v1/operations", params={"batch_id": str(view.batch.id)}, headers=caller.headers
        )
    ).json()

    assert {op["id"] for op in body["operations"]} == ids
    for op in body["operations"]:
        assert op["batch_id"] == str(view.batch.id)
        assert op["links"]["batch"] == f"http://testserver/api/v1/batches/{view.batch.id}"
        assert op["target"].startswith("https://example.com/s/")


async def test_another_tenants_batch_is_not_found(
    client: httpx.AsyncClient,
    sessionmaker: Sessions,
    registry: Registry,
    caller: ApiCaller,
    make_caller: KeyFactory,
) -> None:
    view = await create_batch(sessionmaker, registry, caller, ["ana"])
    other = await make_caller()

    theirs = await client.get(batch_url(view.batch.id), headers=other.headers)
    missing = await client.get(batch_url(uuid.uuid4()), headers=caller.headers)

    assert theirs.status_code == 404
    assert theirs.json()["code"] == "BATCH_NOT_FOUND"
    assert missing.json()["code"] == "BATCH_NOT_FOUND"


async def test_a_batch_whose_operations_all_expired_answers_batch_expired(
    client: httpx.AsyncClient, sessionmaker: Sessions, registry: Registry, caller: ApiCaller
) -> None:
    view = await create_batch(sessionmaker, registry, caller, ["ana", "ben"])
    for op_id, _ in view.statuses:
        await move_to(sessionmaker, op_id, Status.completed)
    async with sessionmaker() as session:
        await session.execute(
            update(Operation)
            .where(Operation.batch_id == view.batch.id)
            .values(expires_at=func.now() - timedelta(minutes=1))
        )
        await session.commit()

    response = await client.get(batch_url(view.batch.id), headers=caller.headers)

    assert response.status_code == 404
    assert response.json()["code"] == "BATCH_EXPIRED"


async def test_one_invalid_item_creates_nothing(
    sessionmaker: Sessions, registry: Registry, caller: ApiCaller
) -> None:
    with pytest.raises(ValidationError):
        await create_batch(sessionmaker, registry, caller, ["ana", {"not": "a string"}])

    async with sessionmaker() as session:
        operations = await session.scalar(select(func.count()).select_from(Operation))
        batches = await session.scalar(select(func.count()).select_from(OperationBatch))
    assert (operations, batches) == (0, 0)


async def test_a_batch_is_created_in_the_callers_transaction(
    sessionmaker: Sessions, registry: Registry, caller: ApiCaller
) -> None:
    async with sessionmaker() as session:
        await service.create_batch(
            session,
            registry,
            tenant_id=caller.tenant_id,  # type: ignore[arg-type]
            principal_id=caller.principal_id,  # type: ignore[arg-type]
            kind="test.echo",
            items=[service.BatchItem(params={}) for _ in range(5)],
        )
        await session.rollback()

    async with sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(Operation)) == 0


async def test_a_feature_endpoint_answers_202_with_the_batch_and_its_location(
    app: FastAPI, client: httpx.AsyncClient, caller: ApiCaller
) -> None:
    async def create_summaries(
        request: Request, session: DbSession, who: WritingCaller
    ) -> JSONResponse:
        view = await service.create_batch(
            session,
            request.app.state.registry,
            tenant_id=who.tenant_id,
            principal_id=who.principal_id,
            kind="test.echo",
            items=[service.BatchItem(params={"value": v}) for v in ("ana", "ben")],
        )
        return batch_router.accepted(request, view)

    app.add_api_route("/test/summaries", create_summaries, methods=["POST"])

    response = await client.post("/test/summaries", headers=caller.headers)

    assert response.status_code == 202
    body = response.json()
    assert response.headers["location"] == f"http://testserver/api/v1/batches/{body['id']}"
    assert body["counts"]["pending"] == 2
    follow = await client.get(response.headers["location"], headers=caller.headers)
    assert follow.json()["operation_ids"] == body["operation_ids"]


async def test_a_batch_may_hold_at_most_the_maximum_of_operations(
    sessionmaker: Sessions, registry: Registry, caller: ApiCaller
) -> None:
    with pytest.raises(ValueError):
        await create_batch(sessionmaker, registry, caller, ["x"] * (service.MAX_BATCH_SIZE + 1))
    with pytest.raises(ValueError):
        await create_batch(sessionmaker, registry, caller, [])
