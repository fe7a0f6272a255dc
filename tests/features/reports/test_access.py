"""Who may read and start reports: viewers read cached ones only, members their own
person's, and another tenant's people are not found."""

from __future__ import annotations

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.auth.models import ApiKey, Role
from backend.config import Settings
from backend.operations.models import Operation
from backend.operations.registry import Registry
from tests.conftest import ApiCaller, KeyFactory
from tests.factories import running_worker
from tests.features.api import wait_done
from tests.features.conftest import KeyOfTenant
from tests.features.reports.data import Subject, age_report, subject

DAY = 24 * 3600


async def operations(sessionmaker: async_sessionmaker[AsyncSession]) -> int:
    async with sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(Operation)) or 0)


async def test_a_viewer_never_starts_a_generation(
    client: httpx.AsyncClient,
    admin: ApiCaller,
    key_of_tenant: KeyOfTenant,
    sam: Subject,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    viewer = await key_of_tenant(Role.viewer)
    await sam.review("2026-10-05", {"Communication": 4})

    missing = await client.get(sam.path("2026-10"), headers=viewer.headers)
    forced = await client.get(sam.path("2026-10"), params={"refresh": True}, headers=viewer.headers)

    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.json()["code"] == "REPORT_NOT_GENERATED"
    assert "read-only" in missing.json()["detail"]
    assert (forced.status_code, forced.json()["code"]) == (403, "READ_ONLY_CALLER")
    assert await operations(sessionmaker) == 0


async def test_a_viewer_reads_a_stale_report_without_refreshing_it(
    client: httpx.AsyncClient,
    admin: ApiCaller,
    key_of_tenant: KeyOfTenant,
    sam: Subject,
    sessionmaker: async_sessionmaker[AsyncSession],
    database_url: str,
    registry: Registry,
    settings: Settings,
) -> None:
    viewer = await key_of_tenant(Role.viewer)
    await sam.review("2026-10-05", {"Communication": 4})
    queued = await client.get(sam.path("2026-10"), headers=admin.headers)
    async with running_worker(database_url, registry, settings):
        await wait_done(client, admin, queued.json()["id"])
    await age_report(sessionmaker, sam.person_id, DAY + 60)

    seen = await client.get(sam.path("2026-10"), headers=viewer.headers)

    assert seen.status_code == 200, seen.text
    body = seen.json()
    assert (body["fresh"], body["refreshing"], body["refresh_allowed"]) == (False, False, False)
    assert body["refresh_operation"] is None
    assert await operations(sessionmaker) == 1


async def test_a_member_reads_the_report_of_the_person_they_act_as_only(
    client: httpx.AsyncClient,
    admin: ApiCaller,
    key_of_tenant: KeyOfTenant,
    sam: Subject,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    member = await key_of_tenant(Role.member)
    stranger = await key_of_tenant(Role.member)
    await sam.link(member.principal_id)

    own = await client.get(sam.path("2026-10"), headers=member.headers)
    other = await client.get(sam.path("2026-10"), headers=stranger.headers)

    assert own.status_code == 202, own.text
    assert (other.status_code, other.json()["code"]) == (404, "PERSON_NOT_FOUND")
    assert await operations(sessionmaker) == 1


async def test_another_tenants_person_is_not_found(
    client: httpx.AsyncClient,
    make_caller: KeyFactory,
    sam: Subject,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    outsider = await make_caller(role=Role.admin)

    answer = await client.get(sam.path("2026-10"), headers=outsider.headers)
    unknown = await client.get(
        "/api/v1/people/01936f0e-8f6b-7cc2-9b8e-2f4c1e7d5a10/reports/2026-10",
        headers=outsider.headers,
    )

    assert (answer.status_code, answer.json()["code"]) == (404, "PERSON_NOT_FOUND")
    assert answer.headers["content-type"] == "application/problem+json"
    assert unknown.json()["code"] == "PERSON_NOT_FOUND"
    assert await operations(sessionmaker) == 0


async def test_a_missing_or_unknown_key_is_told_so_before_anything_else(
    client: httpx.AsyncClient, sam: Subject, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    wrong = {"Authorization": "Bearer opsapi_not-a-key"}

    missing = await client.get(sam.path("2026-10"))
    unknown = await client.get(sam.path("2026-10"), headers=wrong)
    unknown_bad_period = await client.get(sam.path("2026-13"), headers=wrong)

    for answer in (missing, unknown, unknown_bad_period):
        assert answer.status_code == 401, answer.text
        assert answer.json()["code"] == "NOT_AUTHENTICATED"
        assert answer.headers["www-authenticate"] == "Bearer"
    assert await operations(sessionmaker) == 0


async def test_reading_a_report_records_the_keys_use(
    client: httpx.AsyncClient,
    key_of_tenant: KeyOfTenant,
    sam: Subject,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    viewer = await key_of_tenant(Role.viewer)

    await client.get(sam.path("2026-10"), headers=viewer.headers)

    async with sessionmaker() as session:
        used = await session.scalar(
            select(ApiKey.last_used_at).where(ApiKey.principal_id == viewer.principal_id)
        )
    assert used is not None


async def test_a_viewer_acting_as_a_person_reads_that_persons_report_only(
    client: httpx.AsyncClient,
    admin: ApiCaller,
    key_of_tenant: KeyOfTenant,
    sam: Subject,
    sessionmaker: async_sessionmaker[AsyncSession],
    database_url: str,
    registry: Registry,
    settings: Settings,
) -> None:
    """A student is given a viewer key linked to their person (evaluations.md): it must
    not read a classmate's report, which quotes the feedback the classmate received."""
    classmate = await subject(sessionmaker, admin.tenant_id, "Ben Okafor")
    student = await key_of_tenant(Role.viewer)
    await sam.link(student.principal_id)
    queued = [await client.get(p.path("2026-10"), headers=admin.headers) for p in (sam, classmate)]
    async with running_worker(database_url, registry, settings):
        for answer in queued:
            await wait_done(client, admin, answer.json()["id"])

    own = await client.get(sam.path("2026-10"), headers=student.headers)
    other = await client.get(classmate.path("2026-10"), headers=student.headers)

    assert own.status_code == 200, own.text
    assert (other.status_code, other.json()["code"]) == (404, "PERSON_NOT_FOUND")
