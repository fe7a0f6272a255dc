"""Another tenant's operation does not exist for you: 404 on every route, never 403."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.operations.registry import Registry
from backend.operations.states import Status
from tests.conftest import ApiCaller, KeyFactory
from tests.factories import fetch, submit
from tests.operations.rows import move_to

Sessions = async_sessionmaker[AsyncSession]


@pytest.mark.parametrize(
    ("method", "suffix"),
    [("GET", ""), ("GET", "/wait?timeout=0"), ("POST", "/cancel"), ("DELETE", "")],
    ids=["get", "wait", "cancel", "delete"],
)
@pytest.mark.parametrize("status", [Status.pending, Status.completed])
async def test_another_tenants_operation_is_404_operation_not_found(
    client: httpx.AsyncClient,
    caller: ApiCaller,
    make_caller: KeyFactory,
    sessionmaker: Sessions,
    registry: Registry,
    method: str,
    suffix: str,
    status: Status,
) -> None:
    stranger = await make_caller()
    op_id = await submit(sessionmaker, registry, caller, "test.echo")
    await move_to(sessionmaker, op_id, status)

    response = await client.request(
        method, f"/api/v1/operations/{op_id}{suffix}", headers=stranger.headers
    )

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "OPERATION_NOT_FOUND"
    assert (await fetch(sessionmaker, op_id)).status == status.value
