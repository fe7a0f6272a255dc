"""People: who feedback is about, and the principals that act as them."""

from __future__ import annotations

import uuid

import httpx

from backend.auth.models import Role
from tests.conftest import ApiCaller, KeyFactory
from tests.features.api import create_person
from tests.features.conftest import KeyOfTenant


async def test_an_admin_creates_lists_and_reads_people(
    client: httpx.AsyncClient, admin: ApiCaller
) -> None:
    response = await client.post(
        "/api/v1/people",
        json={"name": "  Sam Rivera ", "email": "sam@example.com", "external_id": "E-1"},
        headers=admin.headers,
    )
    other = await create_person(client, admin, "Ana Lopez")

    assert response.status_code == 201
    sam = response.json()
    assert response.headers["location"] == f"http://testserver/api/v1/people/{sam['id']}"
    assert sam["name"] == "Sam Rivera"
    assert (sam["email"], sam["external_id"]) == ("sam@example.com", "E-1")
    read = await client.get(f"/api/v1/people/{sam['id']}", headers=admin.headers)
    assert read.json() == sam
    listed = (await client.get("/api/v1/people", headers=admin.headers)).json()
    assert [p["id"] for p in listed["people"]] == [other["id"], sam["id"]]
    by_external = await client.get(
        "/api/v1/people", params={"external_id": "E-1"}, headers=admin.headers
    )
    assert [p["id"] for p in by_external.json()["people"]] == [sam["id"]]


async def test_people_list_one_page_at_a_time(client: httpx.AsyncClient, admin: ApiCaller) -> None:
    ids = [(await create_person(client, admin, f"Person {i}"))["id"] for i in range(3)]

    first = (await client.get("/api/v1/people?page_size=2", headers=admin.headers)).json()
    second = (
        await client.get(
            "/api/v1/people",
            params={"page_size": 2, "page_token": first["next_page_token"]},
            headers=admin.headers,
        )
    ).json()

    assert [p["id"] for p in first["people"] + second["people"]] == ids[::-1]
    assert second["next_page_token"] is None


async def test_an_external_id_names_one_person_per_tenant(
    client: httpx.AsyncClient, admin: ApiCaller, make_caller: KeyFactory
) -> None:
    await create_person(client, admin, "Sam", external_id="E-7")
    other_tenant = await make_caller(role=Role.admin)

    again = await client.post(
        "/api/v1/people", json={"name": "Sam R.", "external_id": "E-7"}, headers=admin.headers
    )
    elsewhere = await client.post(
        "/api/v1/people", json={"name": "Sam", "external_id": "E-7"}, headers=other_tenant.headers
    )

    assert again.status_code == 409
    assert again.json()["code"] == "PERSON_EXISTS"
    assert elsewhere.status_code == 201


async def test_invalid_people_are_refused(client: httpx.AsyncClient, admin: ApiCaller) -> None:
    blank = await client.post("/api/v1/people", json={"name": "   "}, headers=admin.headers)
    email = await client.post(
        "/api/v1/people", json={"name": "Sam", "email": "not an email"}, headers=admin.headers
    )

    assert blank.status_code == 422
    assert email.status_code == 422
    assert email.json()["code"] == "VALIDATION_ERROR"


async def test_only_admins_manage_people(
    client: httpx.AsyncClient, admin: ApiCaller, key_of_tenant: KeyOfTenant
) -> None:
    person = await create_person(client, admin, "Sam")
    member = await key_of_tenant(Role.member)

    created = await client.post("/api/v1/people", json={"name": "X"}, headers=member.headers)
    read = await client.get(f"/api/v1/people/{person['id']}", headers=member.headers)

    assert created.status_code == 403
    assert created.json()["code"] == "ADMIN_REQUIRED"
    assert read.status_code == 403


async def test_another_tenants_person_is_not_found(
    client: httpx.AsyncClient, admin: ApiCaller, make_caller: KeyFactory
) -> None:
    person = await create_person(client, admin, "Sam")
    stranger = await make_caller(role=Role.admin)

    response = await client.get(f"/api/v1/people/{person['id']}", headers=stranger.headers)

    assert response.status_code == 404
    assert response.json()["code"] == "PERSON_NOT_FOUND"


async def test_a_principal_is_linked_to_one_person_and_can_be_unlinked(
    client: httpx.AsyncClient, admin: ApiCaller, key_of_tenant: KeyOfTenant
) -> None:
    sam = await create_person(client, admin, "Sam")
    ana = await create_person(client, admin, "Ana")
    student = await key_of_tenant(Role.viewer)
    link_body = {"principal_id": str(student.principal_id)}
    url = f"/api/v1/people/{sam['id']}/principals"

    linked = await client.post(url, json=link_body, headers=admin.headers)
    again = await client.post(url, json=link_body, headers=admin.headers)
    elsewhere = await client.post(
        f"/api/v1/people/{ana['id']}/principals", json=link_body, headers=admin.headers
    )
    unlinked = await client.delete(f"{url}/{student.principal_id}", headers=admin.headers)
    after = await client.get(f"/api/v1/people/{sam['id']}", headers=admin.headers)

    assert linked.status_code == 200
    assert linked.json()["principal_ids"] == [str(student.principal_id)]
    assert again.json()["principal_ids"] == [str(student.principal_id)]
    assert elsewhere.status_code == 409
    assert elsewhere.json()["code"] == "PRINCIPAL_ALREADY_LINKED"
    assert unlinked.status_code == 204
    assert after.json()["principal_ids"] == []


async def test_only_the_tenants_own_principals_can_be_linked(
    client: httpx.AsyncClient, admin: ApiCaller, make_caller: KeyFactory
) -> None:
    sam = await create_person(client, admin, "Sam")
    stranger = await make_caller()

    foreign = await client.post(
        f"/api/v1/people/{sam['id']}/principals",
        json={"principal_id": str(stranger.principal_id)},
        headers=admin.headers,
    )
    unknown = await client.post(
        f"/api/v1/people/{sam['id']}/principals",
        json={"principal_id": str(uuid.uuid4())},
        headers=admin.headers,
    )

    assert foreign.status_code == 404
    assert foreign.json()["code"] == "PRINCIPAL_NOT_FOUND"
    assert unknown.json()["code"] == "PRINCIPAL_NOT_FOUND"
