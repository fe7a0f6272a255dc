"""The cycle's summary with a model behind the fake OpenAI-compatible server: generated
from the second review on, weighted by relationship, stale while newer reviews wait."""

from __future__ import annotations

import httpx

from backend.config import Settings
from backend.operations.registry import Registry
from tests.conftest import ApiCaller
from tests.factories import running_worker
from tests.fakes.openai_server import FakeOpenAI, Reply
from tests.features.api import eventually, wait_done
from tests.features.reviews.cycles import (
    STRENGTHS,
    SUMMARY_A,
    SUMMARY_B,
    create_cycle,
    get_summary,
    invite_many,
    review,
    submit,
    summary_operation,
)


async def test_the_second_review_generates_a_weighted_summary_with_its_provenance(
    client: httpx.AsyncClient,
    admin: ApiCaller,
    database_url: str,
    registry: Registry,
    model_settings: Settings,
    fake: FakeOpenAI,
) -> None:
    fake.script(Reply.json(SUMMARY_A))
    cycle = await create_cycle(client, admin)
    manager, peer = await invite_many(client, admin, cycle["id"], ["manager", "peer"])

    async with running_worker(database_url, registry, model_settings):
        first = await submit(client, manager, review(0, {"Communication": 5, "Delivery": 4}))
        after_one = await summary_operation(client, admin, cycle["id"])
        missing = await client.get(f"/api/v1/cycles/{cycle['id']}/summary", headers=admin.headers)
        second = await submit(client, peer, review(1, {"Communication": 2, "Delivery": 3}))
        operation = await summary_operation(client, admin, cycle["id"])
        done = await wait_done(client, admin, operation["id"])

    assert (first.status_code, second.status_code) == (201, 201)
    assert after_one is None
    assert (missing.status_code, missing.json()["code"]) == (404, "SUMMARY_NOT_FOUND")
    assert done["kind"] == "review.summary"
    assert done["status"] == "completed", done["error"]
    assert done["target"] == f"http://testserver/api/v1/cycles/{cycle['id']}/summary"
    assert done["result"]["applied"] is True
    assert done["result"]["review_count"] == 2
    summary = await get_summary(client, admin, cycle["id"])
    assert summary["content"] == SUMMARY_A
    assert (summary["review_count"], summary["reviews_submitted"]) == (2, 2)
    assert (summary["stale"], summary["finalised"], summary["operation"]) == (False, False, None)
    assert summary["generated_by"] == {
        "provider": "openai",
        "model": "fake-model",
        "prompt": "cycle_summary",
        "prompt_version": 1,
        "prompt_digest": done["result"]["generated_by"]["prompt_digest"],
    }
    weighting = summary["weighting"]
    assert [(g["relationship"], g["share"]) for g in weighting["relationships"]] == [
        ("manager", 0.5),
        ("peer", 0.5),
    ]
    assert weighting["ratings"][0] == {
        "competency": "Communication",
        "weighted_average": 3.5,
        "self_rating": None,
        "by_relationship": {"manager": 5.0, "peer": 2.0},
    }
    assert "1 manager: 50.0 %" in weighting["explanation"]
    assert len(fake.requests) == 1
    user = fake.requests[0]["messages"][1]["content"]
    assert "Review 1: manager, weight 50.0 %" in user
    assert "Communication: 3.50" in user
    assert STRENGTHS[0] in user


async def test_newer_reviews_mark_the_summary_stale_and_link_the_generation_covering_them(
    client: httpx.AsyncClient,
    admin: ApiCaller,
    database_url: str,
    registry: Registry,
    model_settings: Settings,
    fake: FakeOpenAI,
) -> None:
    fake.script(Reply.json(SUMMARY_A), Reply.json(SUMMARY_B))
    cycle = await create_cycle(client, admin)
    tokens = await invite_many(client, admin, cycle["id"], ["manager", "peer", "direct_report"])

    async with running_worker(database_url, registry, model_settings):
        for i in (0, 1):
            await submit(client, tokens[i], review(i))
        await wait_done(client, admin, (await summary_operation(client, admin, cycle["id"]))["id"])
        fake.hold_until(in_flight=1_000)  # the next model call waits until released
        await submit(client, tokens[2], review(2))
        await eventually(lambda: _in_flight(fake), "asking the model")
        while_generating = await get_summary(client, admin, cycle["id"])
        fake.release()
        await wait_done(client, admin, while_generating["operation"]["id"])
        after = await get_summary(client, admin, cycle["id"])

    assert while_generating["content"] == SUMMARY_A
    assert while_generating["stale"] is True
    assert (while_generating["review_count"], while_generating["reviews_submitted"]) == (2, 3)
    assert while_generating["operation"]["status"] == "processing"
    assert while_generating["operation"]["url"].endswith(while_generating["operation"]["id"])
    assert after["content"] == SUMMARY_B
    assert (after["stale"], after["review_count"], after["operation"]) == (False, 3, None)


async def _in_flight(fake: FakeOpenAI) -> bool:
    return fake.in_flight > 0


async def test_a_manager_generates_on_demand_from_two_reviews(
    client: httpx.AsyncClient,
    admin: ApiCaller,
    database_url: str,
    registry: Registry,
    model_settings: Settings,
    fake: FakeOpenAI,
) -> None:
    fake.default = Reply.json(SUMMARY_A)
    cycle = await create_cycle(client, admin)
    url = f"/api/v1/cycles/{cycle['id']}/summary/generate"
    tokens = await invite_many(client, admin, cycle["id"], ["peer", "peer"])

    await submit(client, tokens[0])
    too_few = await client.post(url, headers=admin.headers)
    await submit(client, tokens[1])
    automatic = await summary_operation(client, admin, cycle["id"])
    joined = await client.post(url, headers=admin.headers)
    async with running_worker(database_url, registry, model_settings):
        await wait_done(client, admin, automatic["id"])
        waited = await client.post(url, headers={**admin.headers, "Prefer": "wait=20"})

    assert (too_few.status_code, too_few.json()["code"]) == (422, "NOT_ENOUGH_REVIEWS")
    assert too_few.json()["reviews_submitted"] == 1
    assert joined.status_code == 202
    assert joined.json()["id"] == automatic["id"]
    assert joined.headers["location"].endswith(f"/api/v1/operations/{automatic['id']}")
    assert waited.status_code == 200
    assert waited.headers["preference-applied"] == "wait=20"
    assert waited.json()["status"] == "completed"
    assert waited.json()["id"] != automatic["id"]
    assert len(fake.requests) == 2


async def test_submitting_a_review_never_waits_for_the_model(
    client: httpx.AsyncClient, admin: ApiCaller
) -> None:
    # No worker and no model at all: reviews are accepted, the summary work is queued.
    cycle = await create_cycle(client, admin)
    tokens = await invite_many(client, admin, cycle["id"], ["peer"] * 3)

    answers = [await submit(client, token, review(i)) for i, token in enumerate(tokens)]
    operation = await summary_operation(client, admin, cycle["id"])
    missing = await client.get(f"/api/v1/cycles/{cycle['id']}/summary", headers=admin.headers)

    assert [a.status_code for a in answers] == [201, 201, 201]
    assert operation["status"] == "pending"
    assert missing.status_code == 404
    assert missing.json()["operation_id"] == operation["id"]
