"""Operation kinds that call the model, each bound to a given client (one per worker)."""

from __future__ import annotations

from pydantic import BaseModel

from backend.llm import LlmClient, Usage
from backend.llm.tasks import FeedbackSummary
from backend.operations.context import OperationContext
from backend.operations.exceptions import RetryableFailure
from backend.operations.registry import Registry

SUMMARY_KIND = "test.llm_summary"
STREAM_KIND = "test.llm_stream"


class ReviewsParams(BaseModel):
    reviews: list[str]
    # Fail after the model call, as a later step of the handler might.
    fail_after_call: bool = False


class SummaryResult(FeedbackSummary):
    """The answer, and which provider, model and prompt version made it."""

    generated_by: Usage


class StreamedText(BaseModel):
    text: str
    provider: str
    model: str


def llm_registry(llm: LlmClient) -> Registry:
    """The LLM test kinds, their handlers calling ``llm`` (as ``ctx.llm`` would)."""

    async def summarise(ctx: OperationContext, params: ReviewsParams) -> SummaryResult:
        answer, usage = await llm.for_operation(ctx).generate(
            "review_summary", {"reviews": params.reviews}, schema=FeedbackSummary
        )
        if params.fail_after_call:
            raise RetryableFailure("LATER_STEP_FAILED", "A later step failed.")
        return SummaryResult(**answer.model_dump(), generated_by=usage)

    async def stream(ctx: OperationContext, params: ReviewsParams) -> StreamedText:
        async with llm.for_operation(ctx).stream(
            "review_summary", {"reviews": params.reviews}
        ) as text:
            async for chunk in text:
                await ctx.emit("text.delta", {"text": chunk})
        assert text.usage is not None
        return StreamedText(text=text.text, provider=text.usage.provider, model=text.usage.model)

    registry = Registry()
    registry.register(
        SUMMARY_KIND,
        summarise,
        params=ReviewsParams,
        result=SummaryResult,
        max_attempts=2,
        backoff_base=0.05,
        backoff_max=0.1,
    )
    registry.register(STREAM_KIND, stream, params=ReviewsParams, result=StreamedText)
    return registry
