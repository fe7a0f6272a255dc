"""A student's summary: queued for one student (deduplicated), generated with the fake
model or the local provider, read with exact scores and anonymised quotes."""

from __future__ import annotations

import httpx

from backend.config import Settings
from backend.llm.local.text import split_sentences
from backend.operations.registry import Registry
from tests.conftest import ApiCaller
from tests.factories import running_worker
from tests.fakes.openai_server import FakeOpenAI, Reply
from tests.features.api import wait_done
from tests.features.evaluations.classes import (
    COMMENTS,
    SUMMARY,
    add_students,
    create_evaluation,
    give,
    student_path,
)


async def test_a_students_summary_has_exact_scores_provenance_and_anonymous_quotes(
    client: httpx.AsyncClient,
    admin: ApiCaller,
    database_url: str,
    registry: Registry,
    model_settings: Settings,
    fake: FakeOpenAI,
) -> None:
    fake.script(Reply.json(SUMMARY))
    evaluation = await create_evaluation(client, admin)
    eid = evaluation["id"]
    maya, ben, cy = await add_students(client, admin, eid, ["Maya Lind", "Ben Cho", "Cy Ortiz"])
    await give(client, admin, eid, ben, maya, COMMENTS[0], {"Teamwork": 5, "Reliability": 2})
    signed = "Maya is a great partner. Ben Cho and I enjoyed working with her. - Cy"
    await give(client, admin, eid, cy, maya, signed, {"Teamwork": 4, "Reliability": 3})
    path = student_path(eid, maya)

    async with running_worker(database_url, registry, model_settings):
        generated = await client.post(
            f"{path}/summary/generate", headers={**admin.headers, "Prefer": "wait=20"}
        )
    summary = await client.get(f"{path}/summary", headers=admin.headers)
    quoted = await client.get(f"{path}/quotes", headers=admin.headers)

    assert generated.status_code == 200, generated.text
    assert generated.json()["status"] == "completed"
    assert generated.json()["kind"] == "evaluation.summary"
    assert generated.json()["result"]["feedback_count"] == 2
    body = summary.json()
    assert body["content"] == SUMMARY
    assert body["scores"] == [
        {"criterion": "Teamwork", "average": 4.5},
        {"criterion": "Reliability", "average": 2.5},
    ]
    assert (body["feedback_count"], body["feedback_received"], body["stale"]) == (2, 2, False)
    assert body["student"] == {
        "id": maya["id"],
        "person_id": maya["person_id"],
        "name": "Maya Lind",
    }
    assert body["generated_by"]["provider"] == "openai"
    assert body["generated_by"]["prompt"] == "evaluation_summary"
    assert body["operation"] is None
    quotes = [q["text"] for q in quoted.json()["quotes"]]
    anonymised = "Maya is a great partner. [a classmate] and I enjoyed working with her."
    assert sorted(quotes) == sorted([COMMENTS[0], anonymised + " - [a classmate]"])
    for student in (ben, cy):
        assert student["id"] not in quoted.text
        assert student["person_id"] not in quoted.text
    user = fake.requests[0]["messages"][1]["content"]
    assert "- Teamwork: 4.50" in user
    assert COMMENTS[0] in user


async def test_queueing_a_student_already_being_summarised_answers_that_operation(
    client: httpx.AsyncClient,
    admin: ApiCaller,
    database_url: str,
    registry: Registry,
    model_settings: Settings,
    fake: FakeOpenAI,
) -> None:
    fake.default = Reply.json(SUMMARY)
    evaluation = await create_evaluation(client, admin)
    maya, ben = await add_students(client, admin, evaluation["id"], ["Maya", "Ben"])
    await give(client, admin, evaluation["id"], ben, maya)
    url = f"{student_path(evaluation['id'], maya)}/summary/generate"

    first = await client.post(url, headers=admin.headers)
    again = await client.post(url, headers=admin.headers)
    async with running_worker(database_url, registry, model_settings):
        await wait_done(client, admin, first.json()["id"])
        later = await client.post(url, headers=admin.headers)
        await wait_done(client, admin, later.json()["id"])

    assert (first.status_code, again.status_code) == (202, 202)
    assert again.json()["id"] == first.json()["id"]
    assert first.headers["location"].endswith(first.json()["id"])
    assert later.json()["id"] != first.json()["id"]
    assert len(fake.requests) == 2


async def test_a_student_without_feedback_has_nothing_to_summarise(
    client: httpx.AsyncClient, admin: ApiCaller
) -> None:
    evaluation = await create_evaluation(client, admin)
    [maya] = await add_students(client, admin, evaluation["id"], ["Maya"])
    path = student_path(evaluation["id"], maya)

    queued = await client.post(f"{path}/summary/generate", headers=admin.headers)
    summary = await client.get(f"{path}/summary", headers=admin.headers)
    quoted = await client.get(f"{path}/quotes", headers=admin.headers)

    assert (queued.status_code, queued.json()["code"]) == (422, "NO_FEEDBACK")
    assert (summary.status_code, summary.json()["code"]) == (404, "SUMMARY_NOT_FOUND")
    assert quoted.json()["code"] == "SUMMARY_NOT_FOUND"


async def test_feedback_after_the_summary_marks_it_stale(
    client: httpx.AsyncClient,
    admin: ApiCaller,
    database_url: str,
    registry: Registry,
    model_settings: Settings,
    fake: FakeOpenAI,
) -> None:
    fake.default = Reply.json(SUMMARY)
    evaluation = await create_evaluation(client, admin)
    eid = evaluation["id"]
    maya, ben, cy = await add_students(client, admin, eid, ["Maya", "Ben", "Cy"])
    await give(client, admin, eid, ben, maya)
    path = student_path(eid, maya)

    async with running_worker(database_url, registry, model_settings):
        await client.post(
            f"{path}/summary/generate", headers={**admin.headers, "Prefer": "wait=20"}
        )
    await give(client, admin, eid, cy, maya, COMMENTS[1])
    pending = await client.post(f"{path}/summary/generate", headers=admin.headers)
    summary = (await client.get(f"{path}/summary", headers=admin.headers)).json()

    assert (summary["stale"], summary["feedback_count"], summary["feedback_received"]) == (
        True,
        1,
        2,
    )
    assert summary["operation"]["id"] == pending.json()["id"]
    assert summary["operation"]["status"] == "pending"


async def test_the_local_provider_summarises_a_student_from_the_comments(
    client: httpx.AsyncClient,
    admin: ApiCaller,
    database_url: str,
    registry: Registry,
    settings: Settings,
) -> None:
    evaluation = await create_evaluation(client, admin)
    eid = evaluation["id"]
    maya, *peers = await add_students(client, admin, eid, ["Maya", "Ben", "Cy", "Dee", "Eli"])
    for peer, comment in zip(peers, COMMENTS, strict=True):
        await give(client, admin, eid, peer, maya, comment)
    path = student_path(eid, maya)

    async with running_worker(database_url, registry, settings):
        generated = await client.post(
            f"{path}/summary/generate", headers={**admin.headers, "Prefer": "wait=30"}
        )
    summary = (await client.get(f"{path}/summary", headers=admin.headers)).json()

    assert generated.json()["status"] == "completed", generated.json()["error"]
    assert summary["generated_by"]["provider"] == "local"
    written = {s for comment in COMMENTS for s in split_sentences(comment)}
    content = summary["content"]
    assert content["summary"]
    assert set(content["strengths"] + content["improvements"]) <= written
    assert summary["feedback_count"] == 4


async def test_a_model_outage_leaves_the_students_summary_as_it_was(
    client: httpx.AsyncClient,
    admin: ApiCaller,
    database_url: str,
    registry: Registry,
    model_settings: Settings,
    fake: FakeOpenAI,
) -> None:
    fake.script(Reply.json(SUMMARY))
    fake.default = Reply.failure(503, "upstream shard-db-seven rejected org-42")
    evaluation = await create_evaluation(client, admin)
    eid = evaluation["id"]
    maya, ben, cy = await add_students(client, admin, eid, ["Maya", "Ben", "Cy"])
    await give(client, admin, eid, ben, maya)
    path = student_path(eid, maya)

    async with running_worker(database_url, registry, model_settings):
        waiting = {**admin.headers, "Prefer": "wait=20"}
        await client.post(f"{path}/summary/generate", headers=waiting)
        await give(client, admin, eid, cy, maya, COMMENTS[1])
        queued = await client.post(f"{path}/summary/generate", headers=admin.headers)
        failed = await wait_done(client, admin, queued.json()["id"])
    summary = (await client.get(f"{path}/summary", headers=admin.headers)).json()

    assert failed["status"] == "failed"
    assert failed["error"]["code"] == "LLM_UNAVAILABLE"
    assert "shard-db-seven" not in str(failed)
    assert (summary["content"], summary["feedback_count"], summary["stale"]) == (SUMMARY, 1, True)
    assert (summary["operation"]["id"], summary["operation"]["status"]) == (failed["id"], "failed")
