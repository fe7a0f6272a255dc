"""Practice sessions through the API: create, add turns, complete, read; only their
owner ever sees them."""

from __future__ import annotations

import uuid

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.auth.models import Role, Tenant
from backend.features.interviews.schemas import MAX_TURNS
from tests.conftest import ApiCaller, KeyFactory
from tests.features.interviews.conftest import TURNS, completed_session, start_session


async def test_a_new_session_is_created_in_progress_with_its_location(
    client: httpx.AsyncClient, caller: ApiCaller
) -> None:
    response = await client.post(
        "/api/v1/sessions",
        json={"role": " Backend engineer ", "seniority": "senior", "topic": "System design"},
        headers=caller.headers,
    )

    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "in_progress"
    assert body["role"] == "Backend engineer"
    assert body["turns"] == []
    assert body["has_feedback"] is False
    assert body["completed_at"] is None
    assert response.headers["Location"] == f"http://testserver/api/v1/sessions/{body['id']}"
    assert body["links"]["generate_feedback"] == response.headers["Location"] + "/generate-feedback"


async def test_turns_are_numbered_in_the_order_they_are_added(
    client: httpx.AsyncClient, caller: ApiCaller
) -> None:
    session_id = await start_session(client, caller)

    body = (await client.get(f"/api/v1/sessions/{session_id}", headers=caller.headers)).json()

    assert [turn["position"] for turn in body["turns"]] == [1, 2, 3]
    assert [turn["question"] for turn in body["turns"]] == [t["question"] for t in TURNS]
    assert [turn["answer"] for turn in body["turns"]] == [t["answer"] for t in TURNS]
    assert [turn["duration_seconds"] for turn in body["turns"]] == [140, None, 35]


async def test_completing_a_session_fixes_it(client: httpx.AsyncClient, caller: ApiCaller) -> None:
    session_id = await start_session(client, caller)

    completed = await client.post(f"/api/v1/sessions/{session_id}/complete", headers=caller.headers)
    again = await client.post(f"/api/v1/sessions/{session_id}/complete", headers=caller.headers)
    late_turn = await client.post(
        f"/api/v1/sessions/{session_id}/turns", json=TURNS[0], headers=caller.headers
    )

    assert completed.status_code == 200
    assert completed.json()["status"] == "completed"
    assert completed.json()["completed_at"] is not None
    assert len(completed.json()["turns"]) == 3
    assert (again.status_code, again.json()["code"]) == (409, "SESSION_ALREADY_COMPLETED")
    assert again.headers["content-type"] == "application/problem+json"
    assert (late_turn.status_code, late_turn.json()["code"]) == (409, "SESSION_ALREADY_COMPLETED")
    shown = await client.get(f"/api/v1/sessions/{session_id}", headers=caller.headers)
    assert len(shown.json()["turns"]) == 3


async def test_a_session_without_turns_cannot_be_completed(
    client: httpx.AsyncClient, caller: ApiCaller
) -> None:
    session_id = await start_session(client, caller, turns=[])

    response = await client.post(f"/api/v1/sessions/{session_id}/complete", headers=caller.headers)

    assert (response.status_code, response.json()["code"]) == (400, "SESSION_HAS_NO_TURNS")
    shown = await client.get(f"/api/v1/sessions/{session_id}", headers=caller.headers)
    assert shown.json()["status"] == "in_progress"


async def test_a_session_takes_a_limited_number_of_turns(
    client: httpx.AsyncClient, caller: ApiCaller
) -> None:
    session_id = await start_session(client, caller, turns=[TURNS[2]] * MAX_TURNS)

    response = await client.post(
        f"/api/v1/sessions/{session_id}/turns", json=TURNS[0], headers=caller.headers
    )

    assert (response.status_code, response.json()["code"]) == (409, "TURN_LIMIT_REACHED")


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/v1/sessions", {"role": "", "seniority": "senior", "topic": "SQL"}),
        ("/api/v1/sessions", {"role": "Analyst", "seniority": "   ", "topic": "SQL"}),
        ("/api/v1/sessions", {"role": "Analyst", "seniority": "junior"}),
        ("/api/v1/sessions", {"role": "x" * 201, "seniority": "junior", "topic": "SQL"}),
        ("TURNS", {"question": "Why?", "answer": ""}),
        ("TURNS", {"question": "Why?", "answer": "Because.", "duration_seconds": -1}),
        ("TURNS", {"question": "Why?", "answer": "a" * 10_001}),
    ],
)
async def test_invalid_input_is_a_422_and_changes_nothing(
    client: httpx.AsyncClient, caller: ApiCaller, path: str, body: dict[str, object]
) -> None:
    session_id = await start_session(client, caller, turns=[])
    url = f"/api/v1/sessions/{session_id}/turns" if path == "TURNS" else path

    response = await client.post(url, json=body, headers=caller.headers)

    assert (response.status_code, response.json()["code"]) == (422, "VALIDATION_ERROR")
    shown = await client.get(f"/api/v1/sessions/{session_id}", headers=caller.headers)
    assert shown.json()["turns"] == []


def _requests(session_id: str) -> list[tuple[str, str, dict[str, object] | None]]:
    base = f"/api/v1/sessions/{session_id}"
    return [
        ("GET", base, None),
        ("POST", base + "/turns", TURNS[0]),
        ("POST", base + "/complete", None),
        ("POST", base + "/generate-feedback", None),
        ("GET", base + "/feedback", None),
    ]


@pytest.mark.parametrize("who", ["same tenant", "same tenant admin", "other tenant"])
async def test_another_principals_session_is_not_found_for_any_request(
    client: httpx.AsyncClient,
    caller: ApiCaller,
    make_caller: KeyFactory,
    sessionmaker: async_sessionmaker[AsyncSession],
    who: str,
) -> None:
    session_id = await completed_session(client, caller)
    async with sessionmaker() as session:
        own_tenant = await session.scalar(select(Tenant.name).where(Tenant.id == caller.tenant_id))
    tenant = None if who == "other tenant" else own_tenant
    other = await make_caller(tenant, Role.admin if "admin" in who else Role.member)

    for method, url, body in _requests(session_id):
        response = await client.request(method, url, json=body, headers=other.headers)
        assert (response.status_code, response.json()["code"]) == (404, "SESSION_NOT_FOUND"), url

    shown = await client.get(f"/api/v1/sessions/{session_id}", headers=caller.headers)
    assert shown.status_code == 200
    assert len(shown.json()["turns"]) == 3


async def test_a_missing_session_is_not_found(client: httpx.AsyncClient, caller: ApiCaller) -> None:
    for method, url, body in _requests(str(uuid.uuid4())):
        response = await client.request(method, url, json=body, headers=caller.headers)
        assert (response.status_code, response.json()["code"]) == (404, "SESSION_NOT_FOUND"), url


async def test_a_read_only_key_cannot_create_sessions(
    client: httpx.AsyncClient, make_caller: KeyFactory
) -> None:
    viewer = await make_caller(role=Role.viewer)

    response = await client.post(
        "/api/v1/sessions",
        json={"role": "Analyst", "seniority": "junior", "topic": "SQL"},
        headers=viewer.headers,
    )

    assert (response.status_code, response.json()["code"]) == (403, "READ_ONLY_CALLER")


async def test_a_retried_turn_with_the_same_idempotency_key_is_added_once(
    client: httpx.AsyncClient, caller: ApiCaller
) -> None:
    session_id = await start_session(client, caller, turns=[])
    headers = {**caller.headers, "Idempotency-Key": "turn-1"}
    url = f"/api/v1/sessions/{session_id}/turns"

    first = await client.post(url, json=TURNS[0], headers=headers)
    retried = await client.post(url, json=TURNS[0], headers=headers)

    assert first.status_code == retried.status_code == 201
    assert retried.json() == first.json()
    shown = await client.get(f"/api/v1/sessions/{session_id}", headers=caller.headers)
    assert len(shown.json()["turns"]) == 1
