"""Regeneration under load and against a manager's decisions: bursts are coalesced, a
finalised summary is never replaced, a model outage leaves the summary as it was."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.config import Settings
from backend.main import create_app
from backend.operations.models import Operation
from backend.operations.registry import Registry
from tests.conftest import ApiCaller
from tests.conftest import test_settings as settings_for
from tests.factories import fetch, running_worker
from tests.fakes.openai_server import FakeOpenAI, Reply
from tests.features.api import eventually, wait_done
from tests.features.reviews.cycles import (
    SUMMARY_A,
    SUMMARY_B,
    create_cycle,
    get_summary,
    invite_many,
    review,
    submit,
    summary_operation,
)

Sessions = async_sessionmaker[AsyncSession]

PROVIDER_SECRET = "upstream shard-db-seven rejected org-42"


async def summary_operations(sessionmaker: Sessions) -> int:
    async with sessionmaker() as session:
        count: int = (
            await session.scalar(
                select(func.count())
                .select_from(Operation)
                .where(Operation.kind == "review.summary")
            )
            or 0
        )
    return count


async def test_a_burst_of_twenty_reviews_generates_at_most_twice_and_covers_them_all(
    client: httpx.AsyncClient,
    admin: ApiCaller,
    database_url: str,
    registry: Registry,
    model_settings: Settings,
    sessionmaker: Sessions,
    fake: FakeOpenAI,
) -> None:
    fake.default = Reply.json(SUMMARY_A)
    cycle = await create_cycle(client, admin)
    tokens = await invite_many(client, admin, cycle["id"], ["peer"] * 20)
    # A generation that starts during the burst holds its model call until the burst
    # is over, as a slow model would.
    fake.hold_until(in_flight=1_000)

    async with running_worker(database_url, registry, model_settings):
        answers = await asyncio.gather(
            *(submit(client, token, review(i)) for i, token in enumerate(tokens))
        )
        fake.release()
        latest = await summary_operation(client, admin, cycle["id"])
        await wait_done(client, admin, latest["id"])
        summary = await get_summary(client, admin, cycle["id"])

    assert [a.status_code for a in answers] == [201] * 20
    assert len(fake.requests) <= 2
    assert await summary_operations(sessionmaker) <= 2
    assert summary["review_count"] == 20
    assert (summary["stale"], summary["operation"]) == (False, None)


async def test_finalising_during_a_generation_keeps_the_summary_untouched(
    client: httpx.AsyncClient,
    admin: ApiCaller,
    database_url: str,
    registry: Registry,
    model_settings: Settings,
    fake: FakeOpenAI,
) -> None:
    fake.script(Reply.json(SUMMARY_A), Reply.json(SUMMARY_B))
    cycle = await create_cycle(client, admin)
    base = f"/api/v1/cycles/{cycle['id']}/summary"
    tokens = await invite_many(client, admin, cycle["id"], ["manager", "peer", "peer", "peer"])

    async with running_worker(database_url, registry, model_settings):
        for i in (0, 1):
            await submit(client, tokens[i], review(i))
        await wait_done(client, admin, (await summary_operation(client, admin, cycle["id"]))["id"])
        fake.hold_until(in_flight=1_000)
        await submit(client, tokens[2], review(2))
        running = await summary_operation(client, admin, cycle["id"])
        await eventually(lambda: _asking(fake), "asking the model")
        finalised = await client.post(f"{base}/finalise", headers=admin.headers)
        fake.release()
        outcome = await wait_done(client, admin, running["id"])
        after = await get_summary(client, admin, cycle["id"])
        fourth = await submit(client, tokens[3], review(3))
        refused = await client.post(f"{base}/generate", headers=admin.headers)
        queued_after_finalise = await summary_operation(client, admin, cycle["id"])

    assert finalised.status_code == 200
    assert finalised.json()["finalised"] is True
    assert outcome["status"] == "completed"
    assert outcome["result"]["applied"] is False
    assert outcome["result"]["skipped"] == "SUMMARY_FINALISED"
    assert outcome["result"]["generated_by"]["provider"] == "openai"
    assert after["content"] == SUMMARY_A
    assert (after["review_count"], after["finalised"], after["stale"]) == (2, True, True)
    assert after["finalised_at"] == finalised.json()["finalised_at"]
    assert fourth.status_code == 201
    assert (refused.status_code, refused.json()["code"]) == (409, "SUMMARY_FINALISED")
    assert queued_after_finalise is None
    assert len(fake.requests) == 2


async def _asking(fake: FakeOpenAI) -> bool:
    return fake.in_flight > 0


async def test_a_reopened_summary_is_generated_again(
    client: httpx.AsyncClient,
    admin: ApiCaller,
    database_url: str,
    registry: Registry,
    model_settings: Settings,
    fake: FakeOpenAI,
) -> None:
    fake.script(Reply.json(SUMMARY_A), Reply.json(SUMMARY_B))
    cycle = await create_cycle(client, admin)
    base = f"/api/v1/cycles/{cycle['id']}/summary"
    tokens = await invite_many(client, admin, cycle["id"], ["peer", "peer", "peer"])

    async with running_worker(database_url, registry, model_settings):
        for i in (0, 1):
            await submit(client, tokens[i], review(i))
        await wait_done(client, admin, (await summary_operation(client, admin, cycle["id"]))["id"])
        await client.post(f"{base}/finalise", headers=admin.headers)
        await submit(client, tokens[2], review(2))
        reopened = await client.post(f"{base}/reopen", headers=admin.headers)
        generated = await client.post(
            f"{base}/generate", headers={**admin.headers, "Prefer": "wait=20"}
        )
        after = await get_summary(client, admin, cycle["id"])

    assert reopened.status_code == 200
    assert (reopened.json()["finalised"], reopened.json()["stale"]) == (False, True)
    assert generated.json()["status"] == "completed"
    assert (after["content"], after["review_count"], after["stale"]) == (SUMMARY_B, 3, False)


async def test_a_model_outage_leaves_the_summary_as_it_was(
    client: httpx.AsyncClient,
    admin: ApiCaller,
    database_url: str,
    registry: Registry,
    model_settings: Settings,
    fake: FakeOpenAI,
) -> None:
    fake.script(Reply.json(SUMMARY_A))
    fake.default = Reply.failure(503, PROVIDER_SECRET)
    cycle = await create_cycle(client, admin)
    tokens = await invite_many(client, admin, cycle["id"], ["peer", "peer", "peer"])

    async with running_worker(database_url, registry, model_settings):
        for i in (0, 1):
            await submit(client, tokens[i], review(i))
        await wait_done(client, admin, (await summary_operation(client, admin, cycle["id"]))["id"])
        during_outage = await submit(client, tokens[2], review(2))
        failing = await summary_operation(client, admin, cycle["id"])
        failed = await wait_done(client, admin, failing["id"])
        after = await get_summary(client, admin, cycle["id"])

    assert during_outage.status_code == 201
    assert failed["status"] == "failed"
    assert failed["attempt"] == 3
    assert failed["error"]["code"] == "LLM_UNAVAILABLE"
    assert PROVIDER_SECRET not in str(failed)
    assert after["content"] == SUMMARY_A
    assert (after["review_count"], after["stale"]) == (2, True)
    assert after["operation"] == {
        "id": failed["id"],
        "status": "failed",
        "url": failed["links"]["self"],
    }


async def test_regeneration_starts_a_debounce_after_the_latest_review(
    database_url: str, registry: Registry, admin: ApiCaller, sessionmaker: Sessions
) -> None:
    settings = settings_for(database_url, feedback={"summary_debounce_seconds": 30})
    app = create_app(settings, registry=registry, database_url=database_url, configure_logs=False)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
    ):
        cycle = await create_cycle(client, admin)
        tokens = await invite_many(client, admin, cycle["id"], ["peer"] * 3)
        for i, token in enumerate(tokens):
            await submit(client, token, review(i))
        operation = await summary_operation(client, admin, cycle["id"])

    op = await fetch(sessionmaker, operation["id"])
    assert op.status == "pending"
    assert op.run_after >= op.created_at + timedelta(seconds=30)
    assert op.run_after <= op.created_at + timedelta(seconds=300)
