"""Teachers (tenant admins) do everything in their tenant; a student's linked principal
reads only their own summary; another tenant's evaluation does not exist."""

from __future__ import annotations

import httpx
import pytest

from backend.auth.models import Role
from backend.config import Settings
from backend.operations.registry import Registry
from tests import database
from tests.conftest import ApiCaller, KeyFactory
from tests.factories import running_worker
from tests.features.api import Json, create_person, link
from tests.features.conftest import KeyOfTenant
from tests.features.evaluations.classes import add_students, create_evaluation, give, student_path


@pytest.fixture
async def summarised(
    client: httpx.AsyncClient,
    admin: ApiCaller,
    database_url: str,
    registry: Registry,
    settings: Settings,
) -> tuple[Json, list[Json]]:
    """An evaluation whose two students both have a summary (local provider)."""
    evaluation = await create_evaluation(client, admin)
    maya, ben = await add_students(client, admin, evaluation["id"], ["Maya", "Ben"])
    await give(client, admin, evaluation["id"], ben, maya, "Maya explains the maths clearly.")
    await give(client, admin, evaluation["id"], maya, ben, "Ben could come to meetings on time.")
    async with running_worker(database_url, registry, settings):
        for student in (maya, ben):
            done = await client.post(
                f"{student_path(evaluation['id'], student)}/summary/generate",
                headers={**admin.headers, "Prefer": "wait=30"},
            )
            assert done.json()["status"] == "completed"
    return evaluation, [maya, ben]


async def test_a_linked_student_reads_only_their_own_summary_and_quotes(
    client: httpx.AsyncClient,
    admin: ApiCaller,
    key_of_tenant: KeyOfTenant,
    summarised: tuple[Json, list[Json]],
) -> None:
    evaluation, (maya, ben) = summarised
    student = await key_of_tenant(Role.viewer)
    await link(client, admin, maya["person_id"], student)
    own, other = student_path(evaluation["id"], maya), student_path(evaluation["id"], ben)

    summary = await client.get(f"{own}/summary", headers=student.headers)
    quotes = await client.get(f"{own}/quotes", headers=student.headers)
    someone_else = [
        await client.get(f"{other}{leaf}", headers=student.headers)
        for leaf in ("/summary", "/quotes")
    ]
    teacher_only = [
        await client.get(f"/api/v1/evaluations/{evaluation['id']}", headers=student.headers),
        await client.post(f"{own}/summary/generate", headers=student.headers),
        await client.get(
            f"/api/v1/evaluations/{evaluation['id']}/operations", headers=student.headers
        ),
    ]

    assert summary.status_code == 200
    assert summary.json()["student"]["id"] == maya["id"]
    assert quotes.json()["quotes"] == [{"text": "Maya explains the maths clearly."}]
    assert {(r.status_code, r.json()["code"]) for r in someone_else} == {(404, "STUDENT_NOT_FOUND")}
    assert {(r.status_code, r.json()["code"]) for r in teacher_only} == {(403, "ADMIN_REQUIRED")}


async def test_a_principal_linked_to_nobody_reads_no_summary(
    client: httpx.AsyncClient, key_of_tenant: KeyOfTenant, summarised: tuple[Json, list[Json]]
) -> None:
    evaluation, (maya, _) = summarised
    member = await key_of_tenant(Role.member)

    response = await client.get(
        f"{student_path(evaluation['id'], maya)}/summary", headers=member.headers
    )

    assert (response.status_code, response.json()["code"]) == (404, "STUDENT_NOT_FOUND")


async def test_only_teachers_create_evaluations(
    client: httpx.AsyncClient, key_of_tenant: KeyOfTenant
) -> None:
    member = await key_of_tenant(Role.member)

    response = await client.post(
        "/api/v1/evaluations", json={"title": "T", "criteria": ["A"]}, headers=member.headers
    )

    assert (response.status_code, response.json()["code"]) == (403, "ADMIN_REQUIRED")


async def test_another_tenants_evaluation_is_not_found(
    client: httpx.AsyncClient,
    make_caller: KeyFactory,
    summarised: tuple[Json, list[Json]],
) -> None:
    evaluation, (maya, ben) = summarised
    stranger = await make_caller(role=Role.admin)
    base = f"/api/v1/evaluations/{evaluation['id']}"
    own = student_path(evaluation["id"], maya)

    answers = [
        await client.get(base, headers=stranger.headers),
        await client.get(f"{base}/operations", headers=stranger.headers),
        await client.post(f"{base}/summaries/generate", headers=stranger.headers),
        await client.post(f"{own}/summary/generate", headers=stranger.headers),
        await client.get(f"{own}/summary", headers=stranger.headers),
        await give(client, stranger, evaluation["id"], ben, maya),
    ]

    assert {(r.status_code, r.json()["code"]) for r in answers} == {(404, "EVALUATION_NOT_FOUND")}


async def test_a_student_linked_in_another_tenant_reads_nothing_here(
    client: httpx.AsyncClient,
    make_caller: KeyFactory,
    summarised: tuple[Json, list[Json]],
) -> None:
    evaluation, (maya, _) = summarised
    elsewhere = database.unique_name("tenant")
    outsider_admin = await make_caller(tenant=elsewhere, role=Role.admin)
    outsider = await make_caller(tenant=elsewhere, role=Role.viewer)
    person = await create_person(client, outsider_admin, "Maya")
    await link(client, outsider_admin, person["id"], outsider)

    response = await client.get(
        f"{student_path(evaluation['id'], maya)}/summary", headers=outsider.headers
    )

    assert (response.status_code, response.json()["code"]) == (404, "STUDENT_NOT_FOUND")
