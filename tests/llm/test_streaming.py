"""Streamed answers: chunks as they come, their usage, and chunks as operation events."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.config import Settings
from backend.llm import LlmClient
from backend.llm.models import LlmUsage
from backend.llm.tasks import FeedbackSummary
from backend.operations import event_store
from backend.operations.exceptions import OperationFailure
from tests.conftest import ApiCaller
from tests.factories import running_worker, submit, wait_until
from tests.fakes.openai_server import FakeOpenAI, Reply, serving
from tests.llm.answers import SUMMARY, VARIABLES
from tests.llm.conftest import ClientFactory, openai_settings
from tests.llm.kinds import STREAM_KIND, llm_registry

CHUNKS = ["Sam explains ", "designs clearly", ". Sam could share ", "progress more often."]


async def test_a_real_server_streams_chunks_and_reports_their_usage(fake: FakeOpenAI) -> None:
    fake.script(Reply(chunks=CHUNKS, chunk_delay=0.01, prompt_tokens=90, completion_tokens=14))
    async with serving(fake) as base_url:
        llm = LlmClient.from_settings(openai_settings(base_url=base_url))
        try:
            async with llm.stream("review_summary", VARIABLES) as stream:
                received = [chunk async for chunk in stream]
        finally:
            await llm.aclose()

    assert received == CHUNKS
    assert stream.text == "".join(CHUNKS)
    assert stream.usage is not None
    assert (stream.usage.prompt_tokens, stream.usage.completion_tokens) == (90, 14)
    assert fake.requests[0]["stream"] is True
    assert fake.requests[0]["stream_options"] == {"include_usage": True}


async def test_a_server_that_reports_no_usage_on_streams_is_counted_by_estimate(
    llm: LlmClient, fake: FakeOpenAI
) -> None:
    fake.script(Reply(chunks=CHUNKS, usage=False))

    async with llm.stream("review_summary", VARIABLES) as stream:
        async for _ in stream:
            pass

    assert stream.usage is not None
    assert stream.usage.prompt_tokens > 0
    assert stream.usage.completion_tokens == -(-len("".join(CHUNKS)) // 4)


async def test_a_stream_refused_by_the_provider_fails_like_any_call(
    llm: LlmClient, fake: FakeOpenAI
) -> None:
    fake.script(Reply.failure(429, headers={"retry-after": "3"}))

    with pytest.raises(OperationFailure) as caught:
        async with llm.stream("review_summary", VARIABLES) as stream:
            async for _ in stream:
                pass

    assert (caught.value.code, caught.value.retry_after) == ("LLM_RATE_LIMITED", 3.0)


async def test_leaving_a_stream_early_frees_its_concurrency_slot(
    make_llm: ClientFactory, fake: FakeOpenAI
) -> None:
    llm = make_llm(max_concurrency=1)
    fake.script(Reply(chunks=CHUNKS), Reply.json(SUMMARY))

    async with llm.stream("review_summary", VARIABLES) as stream:
        async for _ in stream:
            break
    async with asyncio.timeout(5):
        result, _ = await llm.generate("review_summary", VARIABLES, schema=FeedbackSummary)

    assert result.summary == SUMMARY["summary"]


async def test_a_handler_emits_each_chunk_as_an_operation_event(
    make_llm: ClientFactory,
    fake: FakeOpenAI,
    database_url: str,
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    caller: ApiCaller,
) -> None:
    registry = llm_registry(make_llm())
    fake.script(Reply(chunks=CHUNKS, prompt_tokens=70, completion_tokens=11))
    op_id = await submit(sessionmaker, registry, caller, STREAM_KIND, VARIABLES)

    async with running_worker(database_url, registry, settings):
        op = await wait_until(sessionmaker, op_id, {"completed", "failed"})

    assert op.status == "completed"
    assert op.result == {"text": "".join(CHUNKS), "provider": "openai", "model": "fake-model"}
    events = await _events(sessionmaker, caller, op_id)
    assert [e.data["text"] for e in events if e.type == "text.delta"] == CHUNKS
    usage = await _usage_rows(sessionmaker, op_id)
    assert [(u.prompt_tokens, u.completion_tokens) for u in usage] == [(70, 11)]


async def _events(
    sessionmaker: async_sessionmaker[AsyncSession], caller: ApiCaller, op_id: uuid.UUID
) -> list[event_store.OperationEvent]:
    async with sessionmaker() as session:
        return await event_store.read_events(
            session,
            tenant_id=caller.tenant_id,  # type: ignore[arg-type]
            operation_id=op_id,
            after=0,
        )


async def _usage_rows(
    sessionmaker: async_sessionmaker[AsyncSession], op_id: uuid.UUID
) -> list[LlmUsage]:
    async with sessionmaker() as session:
        rows = await session.scalars(select(LlmUsage).where(LlmUsage.operation_id == op_id))
        return list(rows.all())
