"""Serving a report: none answers 202, a fresh one 200, a stale one 200 with a refresh
behind it; a refresh skips the model when nothing changed and keeps the old report
when it fails."""

from __future__ import annotations

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.config import Settings
from backend.operations.models import Operation
from backend.operations.registry import Registry
from tests.conftest import ApiCaller
from tests.factories import running_worker
from tests.fakes.openai_server import FakeOpenAI, Reply
from tests.features.api import wait_done
from tests.features.reports.data import NARRATIVE, Subject, age_report

DAY = 24 * 3600


async def operation_count(sessionmaker: async_sessionmaker[AsyncSession]) -> int:
    async with sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(Operation)) or 0)


async def generated(
    client: httpx.AsyncClient,
    admin: ApiCaller,
    sam: Subject,
    period: str,
    run: tuple[str, Registry, Settings],
) -> httpx.Response:
    """Ask for the report, let a worker generate it, and read it."""
    queued = await client.get(sam.path(period), headers=admin.headers)
    assert queued.status_code == 202, queued.text
    async with running_worker(*run):
        done = await wait_done(client, admin, queued.json()["id"])
    assert done["status"] == "completed", done
    return await client.get(sam.path(period), headers=admin.headers)


async def test_no_report_answers_202_then_a_fresh_report_with_its_age(
    client: httpx.AsyncClient,
    admin: ApiCaller,
    sam: Subject,
    database_url: str,
    registry: Registry,
    model_settings: Settings,
    fake: FakeOpenAI,
) -> None:
    await sam.review("2026-10-05", {"Communication": 4})
    fake.script(Reply.json(NARRATIVE))

    queued = await client.get(sam.path("2026-10"), headers=admin.headers)
    async with running_worker(database_url, registry, model_settings):
        await wait_done(client, admin, queued.json()["id"])
    await age_report(sam.sessionmaker, sam.person_id, 90)
    fresh = await client.get(sam.path("2026-10"), headers=admin.headers)

    assert queued.status_code == 202
    op = queued.json()
    assert op["kind"] == "report.generate"
    assert queued.headers["location"].endswith(op["id"])
    assert op["target"].endswith(sam.path("2026-10"))
    assert fresh.status_code == 200, fresh.text
    body = fresh.json()
    assert (body["fresh"], body["refreshing"], body["refresh_operation"]) == (True, False, None)
    assert 90 <= body["age_seconds"] < 120
    assert int(fresh.headers["age"]) == body["age_seconds"]
    assert await operation_count(sam.sessionmaker) == 1


async def test_a_stale_report_is_served_with_a_refresh_behind_it(
    client: httpx.AsyncClient,
    admin: ApiCaller,
    sam: Subject,
    database_url: str,
    registry: Registry,
    model_settings: Settings,
    fake: FakeOpenAI,
) -> None:
    await sam.review("2026-10-05", {"Communication": 4})
    fake.default = Reply.json(NARRATIVE)
    run = (database_url, registry, model_settings)
    first = await generated(client, admin, sam, "2026-10", run)
    await sam.review("2026-10-06", {"Communication": 2})
    await age_report(sam.sessionmaker, sam.person_id, DAY + 60)

    stale = await client.get(sam.path("2026-10"), headers=admin.headers)
    again = await client.get(sam.path("2026-10"), headers=admin.headers)
    async with running_worker(*run):
        refreshed_op = await wait_done(client, admin, stale.json()["refresh_operation"]["id"])
    refreshed = await client.get(sam.path("2026-10"), headers=admin.headers)

    assert stale.status_code == 200, stale.text
    body = stale.json()
    assert (body["fresh"], body["refreshing"]) == (False, True)
    assert body["figures"] == first.json()["figures"]
    assert body["refresh_operation"]["status"] == "pending"
    assert body["refresh_operation"]["url"].endswith(body["refresh_operation"]["id"])
    assert again.json()["refresh_operation"]["id"] == body["refresh_operation"]["id"]
    assert refreshed_op["result"]["regenerated"] is True
    assert refreshed.json()["fresh"] is True
    assert refreshed.json()["refreshing"] is False
    assert refreshed.json()["figures"]["overall_rating"]["average"] == 3.0
    assert len(fake.requests) == 2


async def test_refresh_true_refreshes_a_fresh_report_and_unchanged_inputs_skip_the_model(
    client: httpx.AsyncClient,
    admin: ApiCaller,
    sam: Subject,
    database_url: str,
    registry: Registry,
    model_settings: Settings,
    fake: FakeOpenAI,
) -> None:
    await sam.review("2026-10-05", {"Communication": 4})
    fake.script(Reply.json(NARRATIVE))
    run = (database_url, registry, model_settings)
    first = (await generated(client, admin, sam, "2026-10", run)).json()
    await age_report(sam.sessionmaker, sam.person_id, 3600)

    forced = await client.get(
        sam.path("2026-10"), params={"refresh": "true"}, headers=admin.headers
    )
    async with running_worker(*run):
        done = await wait_done(client, admin, forced.json()["refresh_operation"]["id"])
    after = (await client.get(sam.path("2026-10"), headers=admin.headers)).json()

    assert forced.status_code == 200
    assert forced.json()["refreshing"] is True
    assert done["result"]["regenerated"] is False
    assert done["result"]["model_called"] is False
    assert len(fake.requests) == 1
    assert after["generated_at"] == first["generated_at"]
    assert after["narrative"] == first["narrative"]
    assert after["age_seconds"] < 60
    assert after["refresh_operation"] is None


async def test_a_failed_refresh_keeps_serving_the_old_report_with_the_failure_visible(
    client: httpx.AsyncClient,
    admin: ApiCaller,
    sam: Subject,
    database_url: str,
    registry: Registry,
    model_settings: Settings,
    fake: FakeOpenAI,
) -> None:
    await sam.review("2026-10-05", {"Communication": 4})
    fake.script(Reply.json(NARRATIVE), Reply.failure(401, "Invalid API key."))
    run = (database_url, registry, model_settings)
    first = (await generated(client, admin, sam, "2026-10", run)).json()
    await sam.review("2026-10-07", {"Communication": 5})
    await age_report(sam.sessionmaker, sam.person_id, DAY + 60)

    stale = await client.get(sam.path("2026-10"), headers=admin.headers)
    async with running_worker(*run):
        failed = await wait_done(client, admin, stale.json()["refresh_operation"]["id"])
    served = await client.get(sam.path("2026-10"), headers=admin.headers)
    count = await operation_count(sam.sessionmaker)
    retried = await client.get(
        sam.path("2026-10"), params={"refresh": "true"}, headers=admin.headers
    )

    assert failed["status"] == "failed"
    assert served.status_code == 200
    body = served.json()
    assert body["narrative"] == first["narrative"]
    assert body["figures"] == first["figures"]
    assert (body["fresh"], body["refreshing"]) == (False, False)
    assert body["refresh_operation"]["status"] == "failed"
    assert body["refresh_operation"]["error"]["code"] == "LLM_AUTH_FAILED"
    # No new refresh is started by reading within the retry delay...
    assert count == 2
    # ...but asking for one starts it.
    assert retried.json()["refreshing"] is True
    assert retried.json()["refresh_operation"]["id"] != failed["id"]
