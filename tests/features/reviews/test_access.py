"""Who sees a cycle: its manager and the tenant's admins; everyone else gets 404."""

from __future__ import annotations

import httpx

from backend.auth.models import Role
from tests.conftest import ApiCaller, KeyFactory
from tests.features.api import create_person
from tests.features.conftest import KeyOfTenant
from tests.features.reviews.cycles import create_cycle, invite_many, review, submit

PATHS = ("", "/summary")


async def test_a_member_manages_their_own_cycles_and_admins_see_them_too(
    client: httpx.AsyncClient, admin: ApiCaller, key_of_tenant: KeyOfTenant
) -> None:
    manager = await key_of_tenant(Role.member)
    person = await create_person(client, admin, "Sam Rivera")

    cycle = await create_cycle(client, manager, person_id=person["id"])
    invited = await client.post(
        f"/api/v1/cycles/{cycle['id']}/reviewers",
        json={"name": "Alex", "relationship": "peer"},
        headers=manager.headers,
    )
    seen_by_admin = await client.get(f"/api/v1/cycles/{cycle['id']}", headers=admin.headers)

    assert invited.status_code == 201
    assert seen_by_admin.status_code == 200


async def test_another_managers_cycle_is_not_found(
    client: httpx.AsyncClient, admin: ApiCaller, key_of_tenant: KeyOfTenant
) -> None:
    cycle = await create_cycle(client, admin)
    tokens = await invite_many(client, admin, cycle["id"], ["peer", "peer"])
    for i, token in enumerate(tokens):
        await submit(client, token, review(i))
    colleague = await key_of_tenant(Role.member)
    base = f"/api/v1/cycles/{cycle['id']}"

    answers = [await client.get(base + path, headers=colleague.headers) for path in PATHS]
    answers += [
        await client.post(f"{base}/summary/{action}", headers=colleague.headers)
        for action in ("generate", "finalise", "reopen")
    ]
    answers.append(
        await client.post(
            f"{base}/reviewers",
            json={"name": "X", "relationship": "peer"},
            headers=colleague.headers,
        )
    )

    assert {(a.status_code, a.json()["code"]) for a in answers} == {(404, "CYCLE_NOT_FOUND")}


async def test_another_tenants_cycle_is_not_found(
    client: httpx.AsyncClient, admin: ApiCaller, make_caller: KeyFactory
) -> None:
    cycle = await create_cycle(client, admin)
    stranger = await make_caller(role=Role.admin)

    answers = [
        await client.get(f"/api/v1/cycles/{cycle['id']}{path}", headers=stranger.headers)
        for path in PATHS
    ]
    person = await client.post(
        "/api/v1/cycles",
        json={"person_id": cycle["person"]["id"], "title": "T", "competencies": ["A"]},
        headers=stranger.headers,
    )

    assert {(a.status_code, a.json()["code"]) for a in answers} == {(404, "CYCLE_NOT_FOUND")}
    assert (person.status_code, person.json()["code"]) == (404, "PERSON_NOT_FOUND")


async def test_a_read_only_key_cannot_run_a_cycle(
    client: httpx.AsyncClient, admin: ApiCaller, key_of_tenant: KeyOfTenant
) -> None:
    viewer = await key_of_tenant(Role.viewer)
    person = await create_person(client, admin, "Sam")

    created = await client.post(
        "/api/v1/cycles",
        json={"person_id": person["id"], "title": "T", "competencies": ["A"]},
        headers=viewer.headers,
    )

    assert (created.status_code, created.json()["code"]) == (403, "READ_ONLY_CALLER")


async def test_manager_routes_need_an_api_key(client: httpx.AsyncClient, admin: ApiCaller) -> None:
    cycle = await create_cycle(client, admin)

    response = await client.get(f"/api/v1/cycles/{cycle['id']}/summary")

    assert (response.status_code, response.json()["code"]) == (401, "NOT_AUTHENTICATED")
