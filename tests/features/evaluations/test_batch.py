"""Summaries for a whole evaluation in one request: a batch of one operation per
student with feedback; the others are reported, not queued."""

from __future__ import annotations

import httpx

from backend.config import Settings
from backend.operations.registry import Registry
from tests.conftest import ApiCaller
from tests.factories import running_worker
from tests.fakes.openai_server import FakeOpenAI, Reply
from tests.features.api import eventually
from tests.features.evaluations.classes import (
    COMMENTS,
    SUMMARY,
    add_students,
    create_evaluation,
    give,
    student_path,
)


async def test_a_batch_of_thirty_students_queues_one_summary_each(
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
    students = await add_students(client, admin, eid, [f"Student {i:02}" for i in range(32)])
    with_feedback, without = students[:30], students[30:]
    for i, student in enumerate(with_feedback):
        giver = students[(i + 1) % 32]
        response = await give(client, admin, eid, giver, student, COMMENTS[i % len(COMMENTS)])
        assert response.status_code == 201
    # One student's summary is already queued when the batch is asked for.
    already = await client.post(
        f"{student_path(eid, with_feedback[0])}/summary/generate", headers=admin.headers
    )

    queued = await client.post(
        f"/api/v1/evaluations/{eid}/summaries/generate", headers=admin.headers
    )
    body = queued.json()
    batch = body["batch"]
    async with running_worker(database_url, registry, model_settings):
        done = await eventually(lambda: _done(client, admin, batch["links"]["self"]), "done", 60)
        listed = await client.get(
            f"/api/v1/evaluations/{eid}/operations",
            params={"status": "completed", "page_size": 100},
            headers=admin.headers,
        )

    assert queued.status_code == 202
    assert queued.headers["location"] == batch["links"]["self"]
    assert batch["total"] == 29
    assert batch["counts"]["pending"] == 29
    assert [(s["id"], s["name"]) for s in body["without_feedback"]] == [
        (s["id"], s["name"]) for s in without
    ]
    by_student = {q["student_id"]: q for q in body["operations"]}
    assert set(by_student) == {s["id"] for s in with_feedback}
    assert by_student[with_feedback[0]["id"]] == {
        "student_id": with_feedback[0]["id"],
        "operation_id": already.json()["id"],
        "queued": False,
    }
    assert sum(q["queued"] for q in body["operations"]) == 29
    assert done["counts"]["completed"] == 29
    assert len(listed.json()["operations"]) == 30
    assert len(fake.requests) == 30
    for student in with_feedback:
        summary = await client.get(f"{student_path(eid, student)}/summary", headers=admin.headers)
        assert summary.json()["feedback_count"] == 1
    nothing = await client.get(f"{student_path(eid, without[0])}/summary", headers=admin.headers)
    assert nothing.status_code == 404


async def _done(client: httpx.AsyncClient, caller: ApiCaller, url: str) -> object:
    body = (await client.get(url, headers=caller.headers)).json()
    return body if body["done"] else None


async def test_an_evaluation_without_feedback_queues_nothing(
    client: httpx.AsyncClient, admin: ApiCaller
) -> None:
    evaluation = await create_evaluation(client, admin)
    await add_students(client, admin, evaluation["id"], ["Ana", "Ben"])

    response = await client.post(
        f"/api/v1/evaluations/{evaluation['id']}/summaries/generate", headers=admin.headers
    )
    listed = await client.get(
        f"/api/v1/evaluations/{evaluation['id']}/operations", headers=admin.headers
    )

    assert (response.status_code, response.json()["code"]) == (422, "NO_FEEDBACK")
    assert listed.json()["operations"] == []


async def test_asking_again_while_the_batch_runs_answers_the_running_operations(
    client: httpx.AsyncClient, admin: ApiCaller
) -> None:
    evaluation = await create_evaluation(client, admin)
    ana, ben = await add_students(client, admin, evaluation["id"], ["Ana", "Ben"])
    await give(client, admin, evaluation["id"], ana, ben)
    url = f"/api/v1/evaluations/{evaluation['id']}/summaries/generate"

    first = (await client.post(url, headers=admin.headers)).json()
    again = await client.post(url, headers=admin.headers)
    pending = await client.get(
        f"/api/v1/evaluations/{evaluation['id']}/operations",
        params={"status": "pending"},
        headers=admin.headers,
    )

    assert again.status_code == 202
    assert "location" not in again.headers
    assert again.json()["batch"] is None
    assert again.json()["operations"] == [
        {**first["operations"][0], "queued": False},
    ]
    assert [s["id"] for s in again.json()["without_feedback"]] == [ana["id"]]
    assert [op["id"] for op in pending.json()["operations"]] == first["batch"]["operation_ids"]
