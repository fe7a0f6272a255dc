"""The model provider slow, erroring or answering garbage, behind the product's own
features: document metadata, review summaries, interview feedback.

Each fault is retried as far as it deserves and then fails the operation with a
stable code and a message of our own: never the provider's text, never a stack
trace. Meanwhile, reviews are taken and documents accepted as usual.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from backend.auth.models import Role
from backend.config import Settings
from backend.features import build_registry
from tests.conftest import ApiCaller, KeyFactory
from tests.factories import running_worker
from tests.fakes.openai_server import FakeOpenAI, Reply
from tests.features.api import eventually, wait_done
from tests.features.documents.conftest import upload, uploaded
from tests.features.interviews.conftest import ask_for_feedback, completed_session
from tests.features.reviews.cycles import create_cycle, invite_many, review, submit

PROVIDER_SECRET = "upstream shard-db-7 rejected sk-live-abc123 for org-42 at /srv/prompts"

METADATA: dict[str, Any] = {
    "display_name": "Incident review",
    "tags": ["incident", "database", "review"],
    "summary": "What happened when the database stopped.",
    "language": "en",
}


def text_document(marker: str) -> bytes:
    return f"Incident review {marker}. The database stopped; requests were retried.\n".encode()


def assert_failed_safely(op: dict[str, Any], code: str, attempts: int) -> None:
    """Failed for good with ``code`` after ``attempts``, saying nothing of the provider."""
    assert op["status"] == "failed", op
    assert set(op["error"]) == {"code", "message", "retryable"}
    assert (op["error"]["code"], op["error"]["retryable"]) == (code, False)
    assert op["attempt"] == attempts
    shown = json.dumps(op)
    for leak in (PROVIDER_SECRET, "sk-live", "shard-db", "Traceback", "<html"):
        assert leak not in shown, leak


# (replies scripted first, the reply to every later request, code, attempts, requests)
Fault = tuple[list[Reply], Reply, str, int, int]
SLOW = Reply.json(METADATA, delay=10.0)
UNAVAILABLE = Reply.failure(503, PROVIDER_SECRET)
TRUNCATED_BODY = Reply.garbage('{"id": "chatcmpl-1", "choi', "application/json")
FAULTS: dict[str, Fault] = {
    "slower than the timeout": ([], SLOW, "LLM_TIMEOUT", 3, 3),
    "503 every time": ([], UNAVAILABLE, "LLM_UNAVAILABLE", 3, 3),
    # The 429's Retry-After defers the operation without spending an attempt.
    "429 with retry-after, then 503": (
        [Reply.failure(429, PROVIDER_SECRET, headers={"retry-after": "1"})],
        UNAVAILABLE,
        "LLM_UNAVAILABLE",
        3,
        4,
    ),
    "an html page instead of json": (
        [],
        Reply.garbage(f"<html><body>502 Bad Gateway {PROVIDER_SECRET}</body></html>"),
        "LLM_MALFORMED_RESPONSE",
        3,
        3,
    ),
    # Invalid answers get one correction request, then fail for good.
    "malformed json content": (
        [],
        Reply.text('{"display_name": "' + PROVIDER_SECRET),
        "LLM_INVALID_OUTPUT",
        1,
        2,
    ),
    "json of the wrong schema": (
        [],
        Reply.json({"title": PROVIDER_SECRET}),
        "LLM_INVALID_OUTPUT",
        1,
        2,
    ),
    "empty content": ([], Reply(content=""), "LLM_INVALID_OUTPUT", 1, 2),
}


@pytest.fixture
async def admin(make_caller: KeyFactory) -> ApiCaller:
    return await make_caller(role=Role.admin)


@pytest.mark.timeout(90)
@pytest.mark.parametrize("fault", FAULTS.values(), ids=FAULTS.keys())
async def test_document_metadata_fails_safely_when_the_model_misbehaves(
    client: httpx.AsyncClient,
    caller: ApiCaller,
    database_url: str,
    model_settings: Settings,
    fake: FakeOpenAI,
    fault: Fault,
) -> None:
    scripted, every_later, code, attempts, requests = fault
    fake.script(*scripted)
    fake.default = every_later
    accepted = await uploaded(client, caller, text_document("metadata"), "incident.txt")

    async with running_worker(database_url, build_registry(model_settings), model_settings):
        metadata = await eventually(
            lambda: _operation_of_kind(client, caller, "document.metadata"), "describing"
        )
        op = await wait_done(client, caller, metadata["id"])

    assert_failed_safely(op, code, attempts)
    assert len(fake.requests) == requests
    document = await client.get(f"/api/v1/documents/{accepted['id']}", headers=caller.headers)
    assert PROVIDER_SECRET not in document.text


async def _operation_of_kind(
    client: httpx.AsyncClient, caller: ApiCaller, kind: str
) -> dict[str, Any] | None:
    response = await client.get("/api/v1/operations", params={"kind": kind}, headers=caller.headers)
    operations: list[dict[str, Any]] = response.json()["operations"]
    return operations[0] if operations else None


@pytest.mark.timeout(90)
@pytest.mark.parametrize(
    ("reply", "code", "attempts"),
    [(SLOW, "LLM_TIMEOUT", 3), (Reply.failure(500, PROVIDER_SECRET), "LLM_UNAVAILABLE", 3)],
    ids=["slower than the timeout", "500 every time"],
)
async def test_a_review_summary_fails_safely_when_the_model_misbehaves(
    client: httpx.AsyncClient,
    admin: ApiCaller,
    database_url: str,
    model_settings: Settings,
    fake: FakeOpenAI,
    reply: Reply,
    code: str,
    attempts: int,
) -> None:
    fake.default = reply
    cycle = await create_cycle(client, admin)
    tokens = await invite_many(client, admin, cycle["id"], ["peer", "peer"])
    for i, token in enumerate(tokens):
        assert (await submit(client, token, review(i))).status_code == 201

    async with running_worker(database_url, build_registry(model_settings), model_settings):
        summary = await eventually(
            lambda: _operation_of_kind(client, admin, "review.summary"), "summarising"
        )
        op = await wait_done(client, admin, summary["id"])

    assert_failed_safely(op, code, attempts)


@pytest.mark.timeout(90)
@pytest.mark.parametrize(
    ("reply", "code", "attempts"),
    [
        (TRUNCATED_BODY, "LLM_MALFORMED_RESPONSE", 3),
        (Reply(content=None), "LLM_INVALID_OUTPUT", 1),
    ],
    ids=["truncated json body", "no content"],
)
async def test_interview_feedback_fails_safely_when_the_model_misbehaves(
    client: httpx.AsyncClient,
    caller: ApiCaller,
    database_url: str,
    model_settings: Settings,
    fake: FakeOpenAI,
    reply: Reply,
    code: str,
    attempts: int,
) -> None:
    fake.default = reply
    session_id = await completed_session(client, caller)
    asked = await ask_for_feedback(client, caller, session_id)
    assert asked.status_code == 202, asked.text

    async with running_worker(database_url, build_registry(model_settings), model_settings):
        op = await wait_done(client, caller, asked.json()["id"])

    assert_failed_safely(op, code, attempts)
    feedback = await client.get(f"/api/v1/sessions/{session_id}/feedback", headers=caller.headers)
    assert feedback.json()["code"] == "FEEDBACK_NOT_FOUND"


@pytest.mark.timeout(90)
async def test_reviews_and_uploads_are_answered_while_the_model_hangs(
    client: httpx.AsyncClient,
    admin: ApiCaller,
    database_url: str,
    model_settings: Settings,
    fake: FakeOpenAI,
) -> None:
    fake.default = Reply.json(METADATA, delay=60.0)
    # A model call that hangs for longer than this test runs.
    hanging = model_settings.model_copy(
        update={"llm": model_settings.llm.model_copy(update={"timeout": 120.0})}
    )
    cycle = await create_cycle(client, admin)
    tokens = await invite_many(client, admin, cycle["id"], ["peer", "peer", "peer"])
    for i in (0, 1):
        assert (await submit(client, tokens[i], review(i))).status_code == 201

    async with running_worker(database_url, build_registry(hanging), hanging):
        await eventually(lambda: _model_is_held(fake), "asking the model")
        # Generous bounds, not timing claims: only that they answer while it hangs.
        async with asyncio.timeout(30):
            reviewed = await submit(client, tokens[2], review(2))
            uploaded_now = await upload(
                client, admin, text_document("during the hang"), "incident.txt"
            )
        still_held = fake.in_flight
        fake.close()

    assert reviewed.status_code == 201, reviewed.text
    assert uploaded_now.status_code == 202, uploaded_now.text
    assert still_held >= 1


async def _model_is_held(fake: FakeOpenAI) -> bool:
    return fake.in_flight >= 1
