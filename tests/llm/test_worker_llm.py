"""A worker gives its handlers the configured language model as ``ctx.llm``."""

from __future__ import annotations

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.config import Settings
from backend.llm.models import LlmUsage
from backend.llm.tasks import FeedbackSummary
from backend.operations.context import OperationContext
from backend.operations.registry import Registry
from tests.conftest import ApiCaller
from tests.factories import running_worker, submit, wait_until

KIND = "test.ctx_llm"


class Reviews(BaseModel):
    reviews: list[str]


class Summarised(BaseModel):
    summary: str
    provider: str


async def summarise(ctx: OperationContext, params: Reviews) -> Summarised:
    answer, usage = await ctx.llm.generate(
        "review_summary", {"reviews": params.reviews}, schema=FeedbackSummary
    )
    return Summarised(summary=answer.summary, provider=usage.provider)


async def test_handlers_reach_the_configured_model_through_the_context(
    database_url: str,
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    caller: ApiCaller,
) -> None:
    registry = Registry()
    registry.register(KIND, summarise, params=Reviews, result=Summarised)
    reviews = ["Clear communicator who keeps the team informed.", "Misses deadlines at times."]
    op_id = await submit(sessionmaker, registry, caller, KIND, {"reviews": reviews})

    async with running_worker(database_url, registry, settings):
        op = await wait_until(sessionmaker, op_id, {"completed", "failed"})

    assert op.status == "completed", op.error
    assert op.result is not None
    assert op.result["provider"] == "local"
    assert op.result["summary"]
    async with sessionmaker() as session:
        rows = (await session.scalars(select(LlmUsage))).all()
    assert [(row.operation_id, row.provider) for row in rows] == [(op_id, "local")]
