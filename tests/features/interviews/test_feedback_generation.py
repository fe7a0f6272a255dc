"""Generating feedback with real workers: the model through the fake OpenAI-compatible
server, or the local provider; the feedback and the operation's completion commit
together; failures are sanitised."""

from __future__ import annotations

import asyncio
import copy
import json
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.config import Settings
from backend.features.interviews.models import InterviewFeedback
from backend.llm.local.text import split_sentences
from backend.llm.models import LlmUsage
from backend.operations.registry import Registry
from tests.conftest import ApiCaller, KeyFactory
from tests.factories import running_worker, submit
from tests.fakes.openai_server import FakeOpenAI, Reply
from tests.features.interviews.conftest import (
    FEEDBACK,
    TURNS,
    ask_for_feedback,
    completed_session,
    event_log,
    start_session,
    statuses,
    wait_done,
)

Sessions = async_sessionmaker[AsyncSession]

PROVIDER_SECRET = "shard-db-seven rejected key sk-live-abc123 for org-42: prompt logged at /var/x"


async def poll_until(
    client: httpx.AsyncClient, caller: ApiCaller, op_id: str, status: str
) -> dict[str, Any]:
    """Poll the operation through the API until it has ``status`` (not a timing claim)."""
    async with asyncio.timeout(15):
        while True:
            response = await client.get(f"/api/v1/operations/{op_id}", headers=caller.headers)
            op: dict[str, Any] = response.json()
            if op["status"] == status:
                return op
            await asyncio.sleep(0.05)


async def stored_feedback(sessionmaker: Sessions) -> list[InterviewFeedback]:
    async with sessionmaker() as session:
        return list((await session.scalars(select(InterviewFeedback))).all())


async def test_feedback_goes_pending_processing_completed_and_is_stored_with_its_operation(
    client: httpx.AsyncClient,
    caller: ApiCaller,
    sessionmaker: Sessions,
    database_url: str,
    registry: Registry,
    openai_settings: Settings,
    fake: FakeOpenAI,
) -> None:
    fake.script(Reply.json(FEEDBACK, prompt_tokens=900, completion_tokens=300))
    fake.hold_until(2)  # the model answers only when released
    session_id = await completed_session(client, caller)
    accepted = await ask_for_feedback(client, caller, session_id)
    op_id = accepted.json()["id"]

    async with running_worker(database_url, registry, openai_settings):
        processing = await poll_until(client, caller, op_id, "processing")
        fake.release()
        done = await wait_done(client, caller, op_id)

    assert accepted.json()["status"] == "pending"
    assert processing["started_at"] is not None and processing["result"] is None
    assert statuses(await event_log(client, caller, op_id)) == [
        "pending",
        "processing",
        "completed",
    ]
    assert done["status"] == "completed"
    feedback = (
        await client.get(f"/api/v1/sessions/{session_id}/feedback", headers=caller.headers)
    ).json()
    assert done["result"] == feedback
    assert feedback["session_id"] == session_id
    assert feedback["operation_id"] == op_id
    assert feedback["overall_score"] == 72
    assert feedback["strengths"] == FEEDBACK["strengths"]
    assert feedback["areas_to_improve"] == FEEDBACK["areas_to_improve"]
    assert [
        (q["position"], q["question"], q["score"], q["suggestion"]) for q in feedback["questions"]
    ] == [
        (i + 1, turn["question"], given["score"], given["suggestion"])
        for i, (turn, given) in enumerate(zip(TURNS, FEEDBACK["questions"], strict=True))
    ]
    assert feedback["generated_by"] == {
        "provider": "openai",
        "model": "fake-model",
        "prompt": "interview_session_feedback",
        "prompt_version": 1,
        "prompt_digest": feedback["generated_by"]["prompt_digest"],
    }
    session = (await client.get(f"/api/v1/sessions/{session_id}", headers=caller.headers)).json()
    assert session["has_feedback"] is True
    async with sessionmaker() as db:
        usage = (await db.scalars(select(LlmUsage))).all()
    assert [(u.operation_id, u.prompt_tokens, u.completion_tokens) for u in usage] == [
        (uuid.UUID(op_id), 900, 300)
    ]


async def test_the_model_sees_each_answer_as_fenced_data_and_is_asked_for_the_schema(
    client: httpx.AsyncClient,
    caller: ApiCaller,
    database_url: str,
    registry: Registry,
    openai_settings: Settings,
    fake: FakeOpenAI,
) -> None:
    fake.script(Reply.json(FEEDBACK))
    session_id = await completed_session(client, caller)
    op_id = (await ask_for_feedback(client, caller, session_id)).json()["id"]

    async with running_worker(database_url, registry, openai_settings):
        await wait_done(client, caller, op_id)

    [request] = fake.requests
    system, user = (m["content"] for m in request["messages"])
    assert request["model"] == "fake-model"
    schema = request["response_format"]["json_schema"]["schema"]
    assert {"overall_score", "summary", "strengths", "areas_to_improve", "questions"} <= set(
        schema["properties"]
    )
    for turn in TURNS:
        assert turn["answer"] in user and turn["answer"] not in system
        assert turn["question"] in user
    assert "<<<DATA answers" in user and "Backend engineer" in user


@pytest.mark.parametrize(
    ("reply", "code", "attempts"),
    [
        (Reply.failure(400, PROVIDER_SECRET), "LLM_BAD_REQUEST", 1),
        (Reply.failure(401, PROVIDER_SECRET, code="invalid_api_key"), "LLM_AUTH_FAILED", 1),
        (Reply.failure(503, PROVIDER_SECRET), "LLM_UNAVAILABLE", 3),
    ],
)
async def test_a_model_failure_fails_the_operation_with_a_sanitised_error(
    client: httpx.AsyncClient,
    caller: ApiCaller,
    sessionmaker: Sessions,
    database_url: str,
    registry: Registry,
    openai_settings: Settings,
    fake: FakeOpenAI,
    reply: Reply,
    code: str,
    attempts: int,
) -> None:
    fake.script(*(copy.deepcopy(reply) for _ in range(attempts)))
    session_id = await completed_session(client, caller)
    op_id = (await ask_for_feedback(client, caller, session_id)).json()["id"]

    async with running_worker(database_url, registry, openai_settings):
        done = await wait_done(client, caller, op_id)

    events = await event_log(client, caller, op_id)
    assert done["status"] == "failed"
    assert done["result"] is None
    assert set(done["error"]) == {"code", "message", "retryable"}
    assert (done["error"]["code"], done["error"]["retryable"]) == (code, False)
    assert done["attempt"] == attempts == len(fake.requests)
    assert statuses(events) == ["pending"] + ["processing", "pending"] * (attempts - 1) + [
        "processing",
        "failed",
    ]
    for text in (json.dumps(done), json.dumps(events)):
        assert PROVIDER_SECRET not in text
        assert "sk-live" not in text and "shard-db-seven" not in text
    missing = await client.get(f"/api/v1/sessions/{session_id}/feedback", headers=caller.headers)
    assert missing.json()["code"] == "FEEDBACK_NOT_FOUND"
    assert await stored_feedback(sessionmaker) == []
    retry = await ask_for_feedback(client, caller, session_id)
    assert retry.status_code == 202 and retry.json()["id"] != op_id


async def test_an_answer_outside_the_schema_fails_and_stores_nothing(
    client: httpx.AsyncClient,
    caller: ApiCaller,
    sessionmaker: Sessions,
    database_url: str,
    registry: Registry,
    openai_settings: Settings,
    fake: FakeOpenAI,
) -> None:
    too_high = {**FEEDBACK, "overall_score": 150}
    fake.script(Reply.json(too_high), Reply.json(too_high))  # the answer, and its correction
    session_id = await completed_session(client, caller)
    op_id = (await ask_for_feedback(client, caller, session_id)).json()["id"]

    async with running_worker(database_url, registry, openai_settings):
        done = await wait_done(client, caller, op_id)

    assert (done["status"], done["error"]["code"]) == ("failed", "LLM_INVALID_OUTPUT")
    assert await stored_feedback(sessionmaker) == []


async def test_an_answer_that_skips_a_question_is_asked_for_again(
    client: httpx.AsyncClient,
    caller: ApiCaller,
    database_url: str,
    registry: Registry,
    openai_settings: Settings,
    fake: FakeOpenAI,
) -> None:
    skipping = {**FEEDBACK, "questions": FEEDBACK["questions"][:2]}
    fake.script(Reply.json(skipping), Reply.json(FEEDBACK))
    session_id = await completed_session(client, caller)
    op_id = (await ask_for_feedback(client, caller, session_id)).json()["id"]

    async with running_worker(database_url, registry, openai_settings):
        done = await wait_done(client, caller, op_id)

    events = await event_log(client, caller, op_id)
    assert (done["status"], done["attempt"]) == ("completed", 2)
    assert [q["position"] for q in done["result"]["questions"]] == [1, 2, 3]
    retried = [data for kind, data in events if kind == "status" and data["status"] == "pending"]
    assert retried[0]["error"]["code"] == "FEEDBACK_INCOMPLETE"


@pytest.mark.parametrize("case", ["another principal's session", "a session in progress"])
async def test_the_handler_checks_the_session_again_before_calling_the_model(
    client: httpx.AsyncClient,
    caller: ApiCaller,
    make_caller: KeyFactory,
    sessionmaker: Sessions,
    database_url: str,
    registry: Registry,
    openai_settings: Settings,
    fake: FakeOpenAI,
    case: str,
) -> None:
    # An operation made without the endpoint's checks (as an operator's submit could).
    fake.script(Reply.json(FEEDBACK))
    if case == "a session in progress":
        session_id, submitter, code = (
            await start_session(client, caller),
            caller,
            "SESSION_NOT_COMPLETED",
        )
    else:
        session_id, submitter, code = (
            await completed_session(client, caller),
            await make_caller(),
            "SESSION_NOT_FOUND",
        )
    op_id = await submit(
        sessionmaker, registry, submitter, "interview.feedback", {"session_id": session_id}
    )

    async with running_worker(database_url, registry, openai_settings):
        done = await wait_done(client, submitter, str(op_id))

    assert (done["status"], done["error"]["code"]) == ("failed", code)
    assert fake.requests == []
    assert await stored_feedback(sessionmaker) == []


async def test_the_local_provider_writes_feedback_offline_from_the_answers(
    client: httpx.AsyncClient,
    caller: ApiCaller,
    database_url: str,
    registry: Registry,
    settings: Settings,
) -> None:
    session_id = await completed_session(client, caller)
    op_id = (await ask_for_feedback(client, caller, session_id)).json()["id"]

    async with running_worker(database_url, registry, settings):
        done = await wait_done(client, caller, op_id)

    assert done["status"] == "completed", done["error"]
    assert statuses(await event_log(client, caller, op_id)) == [
        "pending",
        "processing",
        "completed",
    ]
    feedback = (
        await client.get(f"/api/v1/sessions/{session_id}/feedback", headers=caller.headers)
    ).json()
    assert feedback == done["result"]
    assert (feedback["generated_by"]["provider"], feedback["generated_by"]["model"]) == (
        "local",
        "extractive-1",
    )
    assert 0 <= feedback["overall_score"] <= 100
    assert feedback["summary"] and feedback["strengths"] and feedback["areas_to_improve"]
    answers = {s for turn in TURNS for s in split_sentences(turn["answer"])}
    written = [feedback["summary"], *feedback["strengths"], *feedback["areas_to_improve"]]
    for entry in feedback["questions"]:
        written += [entry["feedback"], entry["suggestion"]]
    for text in written:
        assert set(split_sentences(text)) <= answers, text
    questions = feedback["questions"]
    assert [q["position"] for q in questions] == [1, 2, 3]
    assert [q["question"] for q in questions] == [turn["question"] for turn in TURNS]
    assert all(0 <= q["score"] <= 100 for q in questions)
    # The second answer admits a mistake, the third is all praise.
    assert questions[1]["score"] < questions[2]["score"]
    assert questions[1]["suggestion"] in split_sentences(TURNS[1]["answer"])
