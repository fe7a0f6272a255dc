"""POST /sessions/{id}/generate-feedback: what is checked before anything is written,
and what is created (one operation per session at a time), with no worker running."""

from __future__ import annotations

import asyncio
import uuid

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.auth.models import Role
from backend.config import Settings
from backend.operations.models import Operation
from backend.operations.registry import Registry
from tests.conftest import ApiCaller, KeyFactory
from tests.factories import running_worker, wait_until
from tests.fakes.openai_server import FakeOpenAI, Reply
from tests.features.interviews.conftest import (
    FEEDBACK,
    ask_for_feedback,
    completed_session,
    start_session,
    wait_done,
)

Sessions = async_sessionmaker[AsyncSession]


async def feedback_operations(sessionmaker: Sessions) -> list[Operation]:
    async with sessionmaker() as session:
        query = select(Operation).where(Operation.kind == "interview.feedback")
        return list((await session.scalars(query)).all())


async def test_a_completed_session_gets_202_with_a_committed_pending_operation(
    client: httpx.AsyncClient, caller: ApiCaller, sessionmaker: Sessions
) -> None:
    session_id = await completed_session(client, caller)

    response = await ask_for_feedback(client, caller, session_id)

    assert response.status_code == 202
    op = response.json()
    assert op["kind"] == "interview.feedback"
    assert op["status"] == "pending"
    assert op["done"] is False
    assert op["target"] == f"http://testserver/api/v1/sessions/{session_id}/feedback"
    assert response.headers["Location"] == op["links"]["self"]
    assert int(response.headers["Retry-After"]) >= 1
    followed = await client.get(response.headers["Location"], headers=caller.headers)
    assert followed.status_code == 200
    assert followed.json()["id"] == op["id"]
    [stored] = await feedback_operations(sessionmaker)
    assert str(stored.id) == op["id"]
    assert stored.params == {"session_id": session_id}
    assert stored.principal_id == caller.principal_id


async def test_a_session_in_progress_is_a_400_and_creates_nothing(
    client: httpx.AsyncClient, caller: ApiCaller, sessionmaker: Sessions
) -> None:
    session_id = await start_session(client, caller)

    response = await ask_for_feedback(client, caller, session_id)

    assert (response.status_code, response.json()["code"]) == (400, "SESSION_NOT_COMPLETED")
    assert response.headers["content-type"] == "application/problem+json"
    assert await feedback_operations(sessionmaker) == []


async def test_a_missing_session_is_a_404_and_creates_nothing(
    client: httpx.AsyncClient, caller: ApiCaller, sessionmaker: Sessions
) -> None:
    response = await ask_for_feedback(client, caller, str(uuid.uuid4()))

    assert (response.status_code, response.json()["code"]) == (404, "SESSION_NOT_FOUND")
    assert await feedback_operations(sessionmaker) == []


async def test_another_users_session_is_a_404_and_creates_nothing(
    client: httpx.AsyncClient, caller: ApiCaller, make_caller: KeyFactory, sessionmaker: Sessions
) -> None:
    session_id = await completed_session(client, caller)
    stranger = await make_caller()

    response = await ask_for_feedback(client, stranger, session_id)

    assert (response.status_code, response.json()["code"]) == (404, "SESSION_NOT_FOUND")
    assert await feedback_operations(sessionmaker) == []


async def test_feedback_is_not_found_before_it_is_generated(
    client: httpx.AsyncClient, caller: ApiCaller
) -> None:
    session_id = await completed_session(client, caller)
    await ask_for_feedback(client, caller, session_id)

    response = await client.get(f"/api/v1/sessions/{session_id}/feedback", headers=caller.headers)

    assert (response.status_code, response.json()["code"]) == (404, "FEEDBACK_NOT_FOUND")
    shown = await client.get(f"/api/v1/sessions/{session_id}", headers=caller.headers)
    assert shown.json()["has_feedback"] is False


async def test_ten_concurrent_requests_create_exactly_one_operation(
    client: httpx.AsyncClient, caller: ApiCaller, sessionmaker: Sessions
) -> None:
    session_id = await completed_session(client, caller)

    responses = await asyncio.gather(
        *(ask_for_feedback(client, caller, session_id) for _ in range(10))
    )

    assert [r.status_code for r in responses] == [202] * 10
    assert len({r.json()["id"] for r in responses}) == 1
    assert len({r.headers["Location"] for r in responses}) == 1
    assert len(await feedback_operations(sessionmaker)) == 1


async def test_a_request_while_the_feedback_runs_answers_the_running_operation(
    client: httpx.AsyncClient,
    caller: ApiCaller,
    sessionmaker: Sessions,
    database_url: str,
    registry: Registry,
    openai_settings: Settings,
    fake: FakeOpenAI,
) -> None:
    # The fake server holds the model call until released: the operation stays processing.
    fake.script(Reply.json(FEEDBACK))
    fake.hold_until(2)
    session_id = await completed_session(client, caller)
    first = (await ask_for_feedback(client, caller, session_id)).json()

    async with running_worker(database_url, registry, openai_settings):
        await wait_until(sessionmaker, uuid.UUID(first["id"]), {"processing"})
        again = await asyncio.gather(
            *(ask_for_feedback(client, caller, session_id) for _ in range(10))
        )
        fake.release()
        done = await wait_done(client, caller, first["id"])

    assert [r.status_code for r in again] == [202] * 10
    assert {r.json()["id"] for r in again} == {first["id"]}
    assert {r.json()["status"] for r in again} == {"processing"}
    assert done["status"] == "completed"
    assert len(fake.requests) == 1
    assert len(await feedback_operations(sessionmaker)) == 1


async def test_once_feedback_exists_a_request_is_a_409_and_creates_nothing(
    client: httpx.AsyncClient,
    caller: ApiCaller,
    sessionmaker: Sessions,
    database_url: str,
    registry: Registry,
    settings: Settings,
) -> None:
    session_id = await completed_session(client, caller)
    first = (await ask_for_feedback(client, caller, session_id)).json()
    async with running_worker(database_url, registry, settings):
        done = await wait_done(client, caller, first["id"])

    response = await ask_for_feedback(client, caller, session_id)

    assert done["status"] == "completed", done["error"]
    assert (response.status_code, response.json()["code"]) == (409, "FEEDBACK_ALREADY_EXISTS")
    assert len(await feedback_operations(sessionmaker)) == 1
    async with sessionmaker() as session:
        total = await session.scalar(select(func.count()).select_from(Operation))
    assert total == 1


async def test_the_feedback_operation_is_its_owners_alone(
    client: httpx.AsyncClient, make_caller: KeyFactory
) -> None:
    """Its result is the session's feedback: no one else of the tenant, not even an
    admin, reads or follows it through /operations (as through /sessions)."""
    tenant = f"interviews-{uuid.uuid4().hex[:8]}"
    owner = await make_caller(tenant=tenant, role=Role.member)
    others = [await make_caller(tenant=tenant, role=role) for role in Role]
    session_id = await completed_session(client, owner)
    op_id = (await ask_for_feedback(client, owner, session_id)).json()["id"]
    op_path = f"/api/v1/operations/{op_id}"

    seen = await client.get(op_path, headers=owner.headers)
    listed = await client.get("/api/v1/operations", headers=owner.headers)
    reads = [("GET", ""), ("GET", "/wait?timeout=0"), ("GET", "/events")]
    writes = [("POST", "/cancel"), ("DELETE", "")]
    hidden = [
        await client.request(method, op_path + suffix, headers=other.headers)
        for other in others
        for method, suffix in (reads if other.role is Role.viewer else reads + writes)
    ]
    unlisted = [await client.get("/api/v1/operations", headers=o.headers) for o in others]

    assert seen.status_code == 200
    assert [op["id"] for op in listed.json()["operations"]] == [op_id]
    assert {(r.status_code, r.json()["code"]) for r in hidden} == {(404, "OPERATION_NOT_FOUND")}
    assert all(r.json()["operations"] == [] for r in unlisted)
