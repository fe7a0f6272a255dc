"""Provider faults become the engine's retryable or permanent failures, with safe messages."""

from __future__ import annotations

import email.utils
import time

import pytest

from backend.llm import LlmClient
from backend.llm.faults import MAX_RETRY_AFTER, parse_retry_after
from backend.llm.tasks import FeedbackSummary
from backend.operations.exceptions import OperationFailure
from tests.fakes.openai_server import FakeOpenAI, Reply, serving
from tests.llm.answers import SUMMARY, VARIABLES
from tests.llm.conftest import openai_settings

PROVIDER_SECRET = "internal shard-db-seven rejected key sk-live-abc for org-42"


async def failure_of(llm: LlmClient) -> OperationFailure:
    with pytest.raises(OperationFailure) as caught:
        await llm.generate("review_summary", VARIABLES, schema=FeedbackSummary)
    return caught.value


@pytest.mark.parametrize(
    ("status", "provider_code", "code", "retryable"),
    [
        (400, None, "LLM_BAD_REQUEST", False),
        (400, "context_length_exceeded", "LLM_INPUT_TOO_LONG", False),
        (400, "content_filter", "LLM_CONTENT_FILTERED", False),
        (401, "invalid_api_key", "LLM_AUTH_FAILED", False),
        (403, None, "LLM_PERMISSION_DENIED", False),
        (404, "model_not_found", "LLM_MODEL_NOT_FOUND", False),
        (422, None, "LLM_BAD_REQUEST", False),
        (409, None, "LLM_UNAVAILABLE", True),
        (429, "rate_limit_exceeded", "LLM_RATE_LIMITED", True),
        (429, "insufficient_quota", "LLM_QUOTA_EXCEEDED", False),
        (500, None, "LLM_UNAVAILABLE", True),
        (502, None, "LLM_UNAVAILABLE", True),
        (503, None, "LLM_UNAVAILABLE", True),
    ],
)
async def test_each_provider_status_maps_to_a_stable_code_and_retryability(
    llm: LlmClient,
    fake: FakeOpenAI,
    status: int,
    provider_code: str | None,
    code: str,
    retryable: bool,
) -> None:
    fake.script(Reply.failure(status, PROVIDER_SECRET, code=provider_code))

    failure = await failure_of(llm)

    assert (failure.code, failure.retryable) == (code, retryable)
    assert PROVIDER_SECRET not in failure.message
    assert "sk-" not in failure.message


async def test_a_rate_limit_defers_by_the_providers_retry_after(
    llm: LlmClient, fake: FakeOpenAI
) -> None:
    fake.script(Reply.failure(429, "Slow down.", headers={"retry-after": "7"}))

    failure = await failure_of(llm)

    assert failure.code == "LLM_RATE_LIMITED"
    assert failure.retryable
    assert failure.retry_after == 7.0


async def test_a_rate_limit_prefers_the_millisecond_hint(llm: LlmClient, fake: FakeOpenAI) -> None:
    fake.script(
        Reply.failure(429, headers={"retry-after-ms": "1500", "retry-after": "2"}),
    )

    assert (await failure_of(llm)).retry_after == 1.5


async def test_a_rate_limit_without_a_hint_leaves_the_delay_to_the_engines_backoff(
    llm: LlmClient, fake: FakeOpenAI
) -> None:
    fake.script(Reply.failure(429))

    failure = await failure_of(llm)

    assert failure.retryable
    assert failure.retry_after is None


def test_retry_after_reads_seconds_dates_and_caps_long_waits() -> None:
    in_a_minute = email.utils.formatdate(time.time() + 60, usegmt=True)

    assert parse_retry_after({"retry-after": "3"}) == 3.0
    assert 55 <= (parse_retry_after({"retry-after": in_a_minute}) or 0) <= 60
    assert parse_retry_after({"retry-after": "86400"}) == MAX_RETRY_AFTER
    assert parse_retry_after({"retry-after": "soon"}) is None
    assert parse_retry_after({}) is None


async def test_the_sdk_does_not_retry_so_each_attempt_is_the_engines(
    llm: LlmClient, fake: FakeOpenAI
) -> None:
    fake.script(Reply.failure(500), Reply.failure(500), Reply.json(SUMMARY))

    await failure_of(llm)

    assert len(fake.requests) == 1


async def test_a_request_slower_than_the_timeout_is_a_retryable_timeout(
    fake: FakeOpenAI,
) -> None:
    fake.script(Reply.json(SUMMARY, delay=5.0))
    async with serving(fake) as base_url:
        llm = LlmClient.from_settings(openai_settings(base_url=base_url, timeout=0.3))
        try:
            failure = await failure_of(llm)
        finally:
            await llm.aclose()

    assert (failure.code, failure.retryable) == ("LLM_TIMEOUT", True)


async def test_an_unreachable_server_is_a_retryable_connection_failure() -> None:
    # Port 9 (discard) has no listener on the loopback interface.
    llm = LlmClient.from_settings(openai_settings(base_url="http://127.0.0.1:9/v1", timeout=5))
    try:
        failure = await failure_of(llm)
    finally:
        await llm.aclose()

    assert (failure.code, failure.retryable) == ("LLM_UNREACHABLE", True)


async def test_a_truncated_answer_fails_permanently_without_a_correction(
    llm: LlmClient, fake: FakeOpenAI
) -> None:
    fake.script(Reply.text('{"summary": "Sam is', finish_reason="length"))

    failure = await failure_of(llm)

    assert (failure.code, failure.retryable) == ("LLM_OUTPUT_TRUNCATED", False)
    assert len(fake.requests) == 1


async def test_a_refusal_fails_permanently(llm: LlmClient, fake: FakeOpenAI) -> None:
    fake.script(Reply(content=None, refusal="I can't help with that."))

    failure = await failure_of(llm)

    assert (failure.code, failure.retryable) == ("LLM_REFUSED", False)


@pytest.mark.parametrize(
    "reply",
    [
        Reply.garbage(f"<html><body>502 Bad Gateway: {PROVIDER_SECRET}</body></html>"),
        Reply.garbage('{"id": "chatcmpl-1", "choi', "application/json"),
        Reply.garbage(f'{{"detail": "{PROVIDER_SECRET}"}}', "application/json"),
        Reply.garbage("", "application/json"),
    ],
    ids=["html page", "truncated json", "json of another shape", "empty body"],
)
async def test_a_response_that_is_no_completion_is_a_retryable_malformed_response(
    llm: LlmClient, fake: FakeOpenAI, reply: Reply
) -> None:
    fake.script(reply)

    failure = await failure_of(llm)

    assert (failure.code, failure.retryable) == ("LLM_MALFORMED_RESPONSE", True)
    assert PROVIDER_SECRET not in failure.message
    assert len(fake.requests) == 1
