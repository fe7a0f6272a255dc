"""Prefer: wait on create and get, and conditional polling with ETag."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.auth.dependencies import DbSession, WritingCaller
from backend.config import Settings
from backend.operations import service
from backend.operations.http import accepted
from backend.operations.registry import Registry
from tests.conftest import ApiCaller
from tests.factories import running_worker, submit

Sessions = async_sessionmaker[AsyncSession]

feature = APIRouter(prefix="/api/v1/test-only")


@feature.post("/echoes", status_code=202)
async def create_echo(request: Request, session: DbSession, caller: WritingCaller) -> JSONResponse:
    op = await service.create_operation(
        session,
        request.app.state.registry,
        tenant_id=caller.tenant_id,
        principal_id=caller.principal_id,
        kind="test.echo",
        params={"value": "waited"},
    )
    return accepted(request, op)


@pytest.fixture
async def feature_client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    app.include_router(feature)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


async def test_prefer_wait_on_create_answers_200_with_the_operation_finished_within_the_wait(
    feature_client: httpx.AsyncClient,
    caller: ApiCaller,
    database_url: str,
    registry: Registry,
    settings: Settings,
) -> None:
    async with running_worker(database_url, registry, settings):
        response = await feature_client.post(
            "/api/v1/test-only/echoes", headers={**caller.headers, "Prefer": "wait=20"}
        )

    assert response.status_code == 200
    assert response.json()["status"] == "completed"
    assert response.json()["result"] == {"echo": "waited"}
    assert response.headers["Preference-Applied"] == "wait=20"
    assert response.headers["Location"].endswith(response.json()["id"])
    assert "Retry-After" not in response.headers


async def test_prefer_wait_on_create_answers_202_with_the_pending_operation_at_the_end_of_the_wait(
    feature_client: httpx.AsyncClient, caller: ApiCaller
) -> None:
    response = await feature_client.post(
        "/api/v1/test-only/echoes", headers={**caller.headers, "Prefer": "respond-async, wait=1"}
    )

    assert response.status_code == 202
    assert response.json()["status"] == "pending"
    assert response.headers["Preference-Applied"] == "wait=1"
    assert response.headers["Retry-After"] == "1"


async def test_a_create_without_prefer_answers_at_once_without_preference_applied(
    feature_client: httpx.AsyncClient, caller: ApiCaller
) -> None:
    response = await feature_client.post("/api/v1/test-only/echoes", headers=caller.headers)

    assert response.status_code == 202
    assert "Preference-Applied" not in response.headers


async def test_prefer_wait_is_capped_at_the_maximum_wait(
    database_url: str, registry: Registry, caller: ApiCaller, sessionmaker: Sessions
) -> None:
    from backend.main import create_app
    from tests.conftest import test_settings

    capped = test_settings(database_url, operations={"max_wait_seconds": 0.5})
    app = create_app(capped, registry=registry, database_url=database_url, configure_logs=False)
    op_id = await submit(sessionmaker, registry, caller, "test.echo")
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver"
        ) as client,
    ):
        response = await client.get(
            f"/api/v1/operations/{op_id}", headers={**caller.headers, "Prefer": "wait=3600"}
        )

    assert response.status_code == 200
    assert response.json()["status"] == "pending"
    assert response.headers["Preference-Applied"] == "wait=0.5"


async def test_prefer_wait_on_get_returns_the_operation_once_finished(
    client: httpx.AsyncClient,
    caller: ApiCaller,
    sessionmaker: Sessions,
    registry: Registry,
    database_url: str,
    settings: Settings,
) -> None:
    op_id = await submit(sessionmaker, registry, caller, "test.sleep", {"seconds": 0.3})
    async with running_worker(database_url, registry, settings):
        response = await client.get(
            f"/api/v1/operations/{op_id}", headers={**caller.headers, "Prefer": "wait=20"}
        )

    assert response.status_code == 200
    assert response.json()["status"] == "completed"
    assert response.headers["Preference-Applied"] == "wait=20"


async def test_prefer_wait_on_get_answers_the_pending_operation_at_the_end_of_the_wait(
    client: httpx.AsyncClient, caller: ApiCaller, sessionmaker: Sessions, registry: Registry
) -> None:
    op_id = await submit(sessionmaker, registry, caller, "test.echo")

    response = await client.get(
        f"/api/v1/operations/{op_id}", headers={**caller.headers, "Prefer": "wait=1"}
    )

    assert response.status_code == 200
    assert response.json()["status"] == "pending"
    assert response.headers["Preference-Applied"] == "wait=1"
    assert response.headers["Retry-After"] == "1"


@pytest.mark.parametrize("prefer", ["wait=soon", "wait=-1", "return=minimal"])
async def test_a_preference_other_than_a_whole_wait_is_ignored(
    client: httpx.AsyncClient,
    caller: ApiCaller,
    sessionmaker: Sessions,
    registry: Registry,
    prefer: str,
) -> None:
    op_id = await submit(sessionmaker, registry, caller, "test.echo")

    response = await client.get(
        f"/api/v1/operations/{op_id}", headers={**caller.headers, "Prefer": prefer}
    )

    assert response.status_code == 200
    assert "Preference-Applied" not in response.headers


async def test_the_etag_names_the_last_event_and_changes_with_every_event(
    client: httpx.AsyncClient,
    caller: ApiCaller,
    sessionmaker: Sessions,
    registry: Registry,
    database_url: str,
    settings: Settings,
) -> None:
    op_id = await submit(sessionmaker, registry, caller, "test.chatter", {"chunks": ["a", "b"]})
    url = f"/api/v1/operations/{op_id}"
    before = (await client.get(url, headers=caller.headers)).headers["ETag"]
    async with running_worker(database_url, registry, settings):
        await client.get(url, headers={**caller.headers, "Prefer": "wait=20"})

    after = await client.get(url, headers=caller.headers)
    current = after.headers["ETag"]
    unchanged = await client.get(url, headers={**caller.headers, "If-None-Match": current})
    stale = await client.get(url, headers={**caller.headers, "If-None-Match": before})

    # created, claimed, two text.delta events, completed: the fifth event.
    assert before == f'W/"{op_id.hex}.1"'
    assert after.headers["ETag"] == f'W/"{op_id.hex}.5"'
    assert (unchanged.status_code, unchanged.content) == (304, b"")
    assert stale.status_code == 200
