"""POST /api/v1/operations/{id}/cancel and DELETE /api/v1/operations/{id}."""

from __future__ import annotations

import uuid

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.auth.models import Role
from backend.operations.registry import Registry
from backend.operations.states import Status
from tests.conftest import ApiCaller, KeyFactory
from tests.database import unique_name
from tests.factories import fetch, submit
from tests.operations.rows import move_to

Sessions = async_sessionmaker[AsyncSession]


def url(op_id: uuid.UUID, action: str = "") -> str:
    return f"/api/v1/operations/{op_id}{action}"


async def viewer_and_member(make_caller: KeyFactory) -> tuple[ApiCaller, ApiCaller]:
    tenant = unique_name("acme")
    return await make_caller(tenant=tenant, role=Role.viewer), await make_caller(tenant=tenant)


async def test_cancelling_a_pending_operation_cancels_it_at_once(
    client: httpx.AsyncClient, caller: ApiCaller, sessionmaker: Sessions, registry: Registry
) -> None:
    op_id = await submit(sessionmaker, registry, caller, "test.echo")

    response = await client.post(url(op_id, "/cancel"), headers=caller.headers)

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "cancelled"
    assert body["done"] is True
    assert body["error"]["code"] == "CANCELLED"
    assert body["finished_at"] is not None
    assert body["expires_at"] is not None
    assert "Retry-After" not in response.headers
    assert (await fetch(sessionmaker, op_id)).status == "cancelled"


async def test_cancelling_a_processing_operation_requests_cancellation(
    client: httpx.AsyncClient, caller: ApiCaller, sessionmaker: Sessions, registry: Registry
) -> None:
    op_id = await submit(sessionmaker, registry, caller, "test.sleep")
    await move_to(sessionmaker, op_id, Status.processing)

    response = await client.post(url(op_id, "/cancel"), headers=caller.headers)

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "processing"
    assert body["cancel_requested"] is True
    assert "Retry-After" in response.headers


async def test_cancel_changes_the_etag(
    client: httpx.AsyncClient, caller: ApiCaller, sessionmaker: Sessions, registry: Registry
) -> None:
    op_id = await submit(sessionmaker, registry, caller, "test.echo")
    before = (await client.get(url(op_id), headers=caller.headers)).headers["ETag"]

    await client.post(url(op_id, "/cancel"), headers=caller.headers)
    response = await client.get(url(op_id), headers={**caller.headers, "If-None-Match": before})

    assert response.status_code == 200
    assert response.headers["ETag"] != before


@pytest.mark.parametrize("status", [Status.completed, Status.failed, Status.cancelled])
async def test_cancelling_a_finished_operation_returns_it_unchanged(
    client: httpx.AsyncClient,
    caller: ApiCaller,
    sessionmaker: Sessions,
    registry: Registry,
    status: Status,
) -> None:
    op_id = await submit(sessionmaker, registry, caller, "test.echo")
    await move_to(sessionmaker, op_id, status)
    before = await client.get(url(op_id), headers=caller.headers)

    response = await client.post(url(op_id, "/cancel"), headers=caller.headers)

    assert response.status_code == 200
    assert response.json() == before.json()
    assert response.headers["ETag"] == before.headers["ETag"]


async def test_cancelling_twice_is_harmless(
    client: httpx.AsyncClient, caller: ApiCaller, sessionmaker: Sessions, registry: Registry
) -> None:
    op_id = await submit(sessionmaker, registry, caller, "test.sleep")
    await move_to(sessionmaker, op_id, Status.processing)
    first = await client.post(url(op_id, "/cancel"), headers=caller.headers)

    second = await client.post(url(op_id, "/cancel"), headers=caller.headers)

    assert second.status_code == 200
    assert second.headers["ETag"] == first.headers["ETag"]


async def test_a_viewer_cannot_cancel(
    client: httpx.AsyncClient, make_caller: KeyFactory, sessionmaker: Sessions, registry: Registry
) -> None:
    viewer, member = await viewer_and_member(make_caller)
    op_id = await submit(sessionmaker, registry, member, "test.echo")

    response = await client.post(url(op_id, "/cancel"), headers=viewer.headers)

    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "READ_ONLY_CALLER"
    assert (await fetch(sessionmaker, op_id)).status == "pending"


@pytest.mark.parametrize("status", [Status.completed, Status.failed, Status.cancelled])
async def test_deleting_a_finished_operation_forgets_it(
    client: httpx.AsyncClient,
    caller: ApiCaller,
    sessionmaker: Sessions,
    registry: Registry,
    status: Status,
) -> None:
    op_id = await submit(sessionmaker, registry, caller, "test.echo")
    await move_to(sessionmaker, op_id, status)

    response = await client.delete(url(op_id), headers=caller.headers)

    assert response.status_code == 204
    assert response.content == b""
    again = await client.get(url(op_id), headers=caller.headers)
    assert again.status_code == 404
    assert again.json()["code"] == "OPERATION_NOT_FOUND"
    assert (await client.delete(url(op_id), headers=caller.headers)).status_code == 404


@pytest.mark.parametrize("status", [Status.pending, Status.processing])
async def test_deleting_an_active_operation_is_409_operation_active(
    client: httpx.AsyncClient,
    caller: ApiCaller,
    sessionmaker: Sessions,
    registry: Registry,
    status: Status,
) -> None:
    op_id = await submit(sessionmaker, registry, caller, "test.echo")
    await move_to(sessionmaker, op_id, status)

    response = await client.delete(url(op_id), headers=caller.headers)

    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == "OPERATION_ACTIVE"
    assert "Cancel it first" in body["detail"]
    assert (await client.get(url(op_id), headers=caller.headers)).status_code == 200


async def test_a_viewer_cannot_delete(
    client: httpx.AsyncClient, make_caller: KeyFactory, sessionmaker: Sessions, registry: Registry
) -> None:
    viewer, member = await viewer_and_member(make_caller)
    op_id = await submit(sessionmaker, registry, member, "test.echo")
    await move_to(sessionmaker, op_id, Status.completed)

    response = await client.delete(url(op_id), headers=viewer.headers)

    assert response.status_code == 403
    assert response.json()["code"] == "READ_ONLY_CALLER"
    assert (await client.get(url(op_id), headers=member.headers)).status_code == 200


async def test_deleting_an_unknown_operation_is_404(
    client: httpx.AsyncClient, caller: ApiCaller
) -> None:
    response = await client.delete(url(uuid.uuid4()), headers=caller.headers)

    assert response.status_code == 404
    assert response.json()["code"] == "OPERATION_NOT_FOUND"
