"""The `review.summary` handler: read the cycle's reviews, weigh them, ask the model,
and write the summary unless it was finalised meanwhile."""

from __future__ import annotations

from typing import Any

from backend.features.feedback.provenance import GeneratedBy
from backend.features.reviews import summaries
from backend.features.reviews.schemas import CycleSummaryParams, CycleSummaryResult, SkipReason
from backend.features.reviews.summaries import CycleMaterial
from backend.features.reviews.weighting import Weighting, label, percent, review_weights, weigh
from backend.llm.tasks import FeedbackSummary
from backend.operations.context import OperationContext
from backend.operations.exceptions import PermanentFailure

PROMPT = "cycle_summary"


async def summarise_cycle(ctx: OperationContext, params: CycleSummaryParams) -> CycleSummaryResult:
    # The reviews are read at the start, in a short transaction of their own: a review
    # committed later joins (or queues) the next run, which reads it.
    async with ctx.sessionmaker() as session:
        material = await summaries.load_material(session, ctx.tenant_id, params.cycle_id)
    if material is None:
        raise PermanentFailure("CYCLE_NOT_FOUND", "The review cycle no longer exists.")
    count = len(material.reviews)
    if material.finalised:
        return CycleSummaryResult(
            cycle_id=material.cycle_id,
            applied=False,
            skipped=SkipReason.finalised,
            review_count=count,
        )
    if count < summaries.MIN_REVIEWS:
        return CycleSummaryResult(
            cycle_id=material.cycle_id,
            applied=False,
            skipped=SkipReason.not_enough_reviews,
            review_count=count,
        )
    weighting = weigh(material.competencies, [r.rated() for r in material.reviews])
    # No transaction is open during the model call; its usage is recorded in ctx.session.
    answer, usage = await ctx.llm.generate(
        PROMPT, prompt_variables(material, weighting), schema=FeedbackSummary
    )
    generated_by = GeneratedBy.of(usage)
    applied = await summaries.save_summary(
        ctx.session,
        material,
        content=answer,
        weighting=weighting,
        generated_by=generated_by,
        operation_id=ctx.operation_id,
    )
    return CycleSummaryResult(
        cycle_id=material.cycle_id,
        applied=applied,
        skipped=None if applied else SkipReason.finalised,
        review_count=count,
        generated_by=generated_by,
    )


def prompt_variables(material: CycleMaterial, weighting: Weighting) -> dict[str, Any]:
    """The reviews' texts as inputs (fenced), their relationships and weights, and the
    weighted ratings. Competency names come from the manager who set up the cycle."""
    weights = review_weights([r.relationship for r in material.reviews])
    return {
        "strengths": [r.strengths for r in material.reviews],
        "improvements": [r.improvements for r in material.reviews],
        "reviewers": [
            {"relationship": label(r.relationship), "weight": percent(w)}
            for r, w in zip(material.reviews, weights, strict=True)
        ],
        "weighting": weighting.explanation,
        "ratings": [
            {
                "competency": rating.competency,
                "weighted": f"{rating.weighted_average:.2f}",
                "self": None if rating.self_rating is None else f"{rating.self_rating:.2f}",
            }
            for rating in weighting.ratings
        ],
    }
