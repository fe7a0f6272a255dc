"""GET /api/v1/operations/{id}: every status, Retry-After, ETag and conditional requests."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from backend.auth.models import Role
from backend.config import Settings
from backend.operations.registry import Registry
from backend.operations.states import Status
from backend.operations.worker import Worker
from tests.conftest import ApiCaller, KeyFactory
from tests.database import unique_name
from tests.factories import submit, wait_until
from tests.operations.rows import FAILED_ERROR, move_to

Sessions = async_sessionmaker[AsyncSession]


def url(op_id: uuid.UUID) -> str:
    return f"/api/v1/operations/{op_id}"


@pytest.mark.parametrize("status", list(Status))
async def test_every_status_answers_200_with_an_etag(
    client: httpx.AsyncClient,
    caller: ApiCaller,
    sessionmaker: Sessions,
    registry: Registry,
    status: Status,
) -> None:
    op_id = await submit(sessionmaker, registry, caller, "test.echo", {"value": "x"})
    await move_to(sessionmaker, op_id, status)

    response = await client.get(url(op_id), headers=caller.headers)

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["id"] == str(op_id)
    assert body["status"] == status.value
    assert body["done"] is status.done
    assert response.headers["ETag"].startswith('W/"')


@pytest.mark.parametrize("status", [Status.pending, Status.processing])
async def test_retry_after_is_sent_while_the_operation_is_not_done(
    client: httpx.AsyncClient,
    caller: ApiCaller,
    sessionmaker: Sessions,
    registry: Registry,
    status: Status,
) -> None:
    op_id = await submit(sessionmaker, registry, caller, "test.echo")
    await move_to(sessionmaker, op_id, status)

    response = await client.get(url(op_id), headers=caller.headers)

    assert int(response.headers["Retry-After"]) >= 1


@pytest.mark.parametrize("status", [Status.completed, Status.failed, Status.cancelled])
async def test_retry_after_is_absent_once_the_operation_is_done(
    client: httpx.AsyncClient,
    caller: ApiCaller,
    sessionmaker: Sessions,
    registry: Registry,
    status: Status,
) -> None:
    op_id = await submit(sessionmaker, registry, caller, "test.echo")
    await move_to(sessionmaker, op_id, status)

    response = await client.get(url(op_id), headers=caller.headers)

    assert "Retry-After" not in response.headers


async def test_failed_operation_is_200_with_its_error(
    client: httpx.AsyncClient, caller: ApiCaller, sessionmaker: Sessions, registry: Registry
) -> None:
    op_id = await submit(sessionmaker, registry, caller, "test.fail")
    await move_to(sessionmaker, op_id, Status.failed)

    response = await client.get(url(op_id), headers=caller.headers)

    assert response.status_code == 200
    body = response.json()
    assert body["error"] == FAILED_ERROR
    assert body["result"] is None
    assert body["finished_at"] is not None


async def test_completed_operation_carries_its_result(
    client: httpx.AsyncClient, caller: ApiCaller, sessionmaker: Sessions, registry: Registry
) -> None:
    op_id = await submit(sessionmaker, registry, caller, "test.echo")
    await move_to(sessionmaker, op_id, Status.completed, result={"echo": "done"})

    body = (await client.get(url(op_id), headers=caller.headers)).json()

    assert body["result"] == {"echo": "done"}
    assert body["error"] is None
    assert body["attempt"] == 1


async def test_representation_has_every_documented_field_and_absolute_links(
    client: httpx.AsyncClient, caller: ApiCaller, sessionmaker: Sessions, registry: Registry
) -> None:
    op_id = await submit(
        sessionmaker, registry, caller, "test.echo", target="https://example.com/things/1"
    )

    body = (await client.get(url(op_id), headers=caller.headers)).json()

    for field in (
        "id", "kind", "status", "done", "target", "progress", "result", "error", "attempt",
        "max_attempts", "cancel_requested", "created_at", "started_at", "finished_at",
        "expires_at", "links",
    ):  # fmt: skip
        assert field in body, field
    assert body["kind"] == "test.echo"
    assert body["target"] == "https://example.com/things/1"
    self_url = f"http://testserver/api/v1/operations/{op_id}"
    assert body["links"] == {
        "self": self_url,
        "wait": self_url + "/wait",
        "events": self_url + "/events",
        "cancel": self_url + "/cancel",
        "children": f"http://testserver/api/v1/operations?parent_id={op_id}",
        "parent": None,
        "batch": None,
    }
    assert body["created_at"].endswith(("Z", "+00:00"))


async def test_if_none_match_with_the_current_etag_answers_304_without_a_body(
    client: httpx.AsyncClient, caller: ApiCaller, sessionmaker: Sessions, registry: Registry
) -> None:
    op_id = await submit(sessionmaker, registry, caller, "test.echo")
    tag = (await client.get(url(op_id), headers=caller.headers)).headers["ETag"]

    response = await client.get(url(op_id), headers={**caller.headers, "If-None-Match": tag})

    assert response.status_code == 304
    assert response.content == b""
    assert response.headers["ETag"] == tag
    assert "Retry-After" in response.headers


@pytest.mark.parametrize(
    "header",
    ["{tag}", "{strong}", '"other", {tag}', "*"],
    ids=["weak", "strong-form", "in-a-list", "any"],
)
async def test_if_none_match_forms_that_match_answer_304(
    client: httpx.AsyncClient,
    caller: ApiCaller,
    sessionmaker: Sessions,
    registry: Registry,
    header: str,
) -> None:
    op_id = await submit(sessionmaker, registry, caller, "test.echo")
    tag = (await client.get(url(op_id), headers=caller.headers)).headers["ETag"]
    value = header.format(tag=tag, strong=tag.removeprefix("W/"))

    response = await client.get(url(op_id), headers={**caller.headers, "If-None-Match": value})

    assert response.status_code == 304


async def test_a_stale_etag_gets_the_new_representation_and_a_new_etag(
    client: httpx.AsyncClient, caller: ApiCaller, sessionmaker: Sessions, registry: Registry
) -> None:
    op_id = await submit(sessionmaker, registry, caller, "test.echo")
    old = (await client.get(url(op_id), headers=caller.headers)).headers["ETag"]
    await move_to(sessionmaker, op_id, Status.completed)

    response = await client.get(url(op_id), headers={**caller.headers, "If-None-Match": old})

    assert response.status_code == 200
    assert response.json()["status"] == "completed"
    assert response.headers["ETag"] != old


async def test_etag_changes_when_a_worker_runs_the_operation(
    client: httpx.AsyncClient,
    caller: ApiCaller,
    sessionmaker: Sessions,
    registry: Registry,
    engine: AsyncEngine,
    settings: Settings,
    database_url: str,
) -> None:
    op_id = await submit(sessionmaker, registry, caller, "test.echo", {"value": "hi"})
    before = (await client.get(url(op_id), headers=caller.headers)).headers["ETag"]
    stop = asyncio.Event()
    worker = Worker(engine=engine, database_url=database_url, registry=registry, settings=settings)
    task = asyncio.create_task(worker.run(stop))
    try:
        await wait_until(sessionmaker, op_id, {"completed"})
    finally:
        stop.set()
        await task

    response = await client.get(url(op_id), headers={**caller.headers, "If-None-Match": before})

    assert response.status_code == 200
    assert response.headers["ETag"] != before
    assert response.json()["result"] == {"echo": "hi"}
    assert "Retry-After" not in response.headers


async def test_an_unknown_operation_id_is_404_operation_not_found(
    client: httpx.AsyncClient, caller: ApiCaller
) -> None:
    response = await client.get(url(uuid.uuid4()), headers=caller.headers)

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "OPERATION_NOT_FOUND"


async def test_a_viewer_can_read_operations(
    client: httpx.AsyncClient, make_caller: KeyFactory, sessionmaker: Sessions, registry: Registry
) -> None:
    tenant = unique_name("acme")
    member = await make_caller(tenant=tenant)
    viewer = await make_caller(tenant=tenant, role=Role.viewer)
    op_id = await submit(sessionmaker, registry, member, "test.echo")

    response = await client.get(url(op_id), headers=viewer.headers)

    assert response.status_code == 200
