"""A cycle's summary: regeneration requests (automatic and manual, coalesced), what
the handler reads and writes, reading it with its staleness, finalise and reopen."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth.service import Caller
from backend.features.feedback.operations import operation_by_id, unless_completed
from backend.features.feedback.provenance import GeneratedBy
from backend.features.reviews.exceptions import (
    NotEnoughReviews,
    SummaryFinalised,
    SummaryNotFound,
)
from backend.features.reviews.models import (
    CycleSummary,
    Relationship,
    Review,
    ReviewCycle,
    Reviewer,
)
from backend.features.reviews.schemas import SUMMARY_KIND, CycleSummaryParams
from backend.features.reviews.service import get_cycle, now, reviews_submitted
from backend.features.reviews.weighting import RatedReview, Weighting
from backend.llm.tasks import FeedbackSummary
from backend.operations import service
from backend.operations.models import Operation
from backend.operations.registry import Registry

MIN_REVIEWS = 2


def coalesce_key(cycle_id: uuid.UUID) -> str:
    return f"review-summary:{cycle_id}"


async def queue_generation(
    session: AsyncSession,
    registry: Registry,
    cycle: ReviewCycle,
    *,
    principal_id: uuid.UUID | None,
    target: str,
    debounce: timedelta | None = None,
) -> Operation:
    """Create or join the cycle's coalesced summary operation, in the caller's
    transaction: a burst of requests runs at most twice (the run under way and one
    after it), and each run reads every review committed before it started."""
    op = await service.create_operation(
        session,
        registry,
        tenant_id=cycle.tenant_id,
        principal_id=principal_id,
        kind=SUMMARY_KIND,
        params=CycleSummaryParams(cycle_id=cycle.id),
        target=target,
        coalesce_key=coalesce_key(cycle.id),
        debounce=debounce,
    )
    # Writes only when a new operation was created, not for each request that joins.
    await session.execute(
        update(ReviewCycle)
        .where(ReviewCycle.id == cycle.id, ReviewCycle.summary_operation_id.is_distinct_from(op.id))
        .values(summary_operation_id=op.id)
    )
    return op


async def is_finalised(session: AsyncSession, cycle_id: uuid.UUID) -> bool:
    finalised_at = await session.scalar(
        select(CycleSummary.finalised_at).where(CycleSummary.cycle_id == cycle_id)
    )
    return finalised_at is not None


async def after_review(
    session: AsyncSession,
    registry: Registry,
    cycle: ReviewCycle,
    *,
    target: str,
    debounce: timedelta | None,
) -> Operation | None:
    """From the second review on, regenerate the summary, unless it is finalised. The
    caller holds the cycle's lock, so the count sees every review committed before."""
    if await reviews_submitted(session, cycle.id) < MIN_REVIEWS:
        return None
    if await is_finalised(session, cycle.id):
        return None
    return await queue_generation(
        session, registry, cycle, principal_id=None, target=target, debounce=debounce
    )


async def request_generation(
    session: AsyncSession, registry: Registry, caller: Caller, cycle_id: uuid.UUID, *, target: str
) -> Operation:
    """A manager asks for a summary now: 422 below two reviews, 409 when finalised."""
    cycle = await get_cycle(session, caller, cycle_id, lock=True)
    submitted = await reviews_submitted(session, cycle.id)
    if submitted < MIN_REVIEWS:
        raise NotEnoughReviews(submitted)
    if await is_finalised(session, cycle.id):
        raise SummaryFinalised()
    return await queue_generation(
        session, registry, cycle, principal_id=caller.principal_id, target=target
    )


@dataclass(frozen=True)
class SummaryView:
    summary: CycleSummary
    reviews_submitted: int
    stale: bool
    operation: Operation | None


async def summary_view(session: AsyncSession, caller: Caller, cycle_id: uuid.UUID) -> SummaryView:
    cycle = await get_cycle(session, caller, cycle_id)
    newest = await operation_by_id(session, caller.tenant_id, cycle.summary_operation_id)
    operation = unless_completed(newest)
    summary = await session.get(CycleSummary, cycle.id, populate_existing=True)
    if summary is None:
        raise SummaryNotFound(operation)
    newer = await session.scalar(
        select(func.count())
        .select_from(Review)
        .where(Review.cycle_id == cycle.id, Review.id.not_in(summary.review_ids))
    )
    return SummaryView(
        summary=summary,
        reviews_submitted=await reviews_submitted(session, cycle.id),
        stale=bool(newer),
        operation=operation,
    )


async def _locked_summary(session: AsyncSession, caller: Caller, cycle_id: uuid.UUID) -> None:
    cycle = await get_cycle(session, caller, cycle_id)
    summary = await session.scalar(
        select(CycleSummary).where(CycleSummary.cycle_id == cycle.id).with_for_update()
    )
    if summary is None:
        raise SummaryNotFound()


async def finalise(session: AsyncSession, caller: Caller, cycle_id: uuid.UUID) -> SummaryView:
    """Freeze the summary: no run replaces it from now on, not even one under way (it
    checks under the same row lock before writing). Finalising twice is harmless."""
    await _locked_summary(session, caller, cycle_id)
    await session.execute(
        update(CycleSummary)
        .where(CycleSummary.cycle_id == cycle_id, CycleSummary.finalised_at.is_(None))
        .values(finalised_at=func.now(), finalised_by=caller.principal_id)
    )
    return await summary_view(session, caller, cycle_id)


async def reopen(session: AsyncSession, caller: Caller, cycle_id: uuid.UUID) -> SummaryView:
    """Let the summary be generated again (by the next review or a manual request)."""
    await _locked_summary(session, caller, cycle_id)
    await session.execute(
        update(CycleSummary)
        .where(CycleSummary.cycle_id == cycle_id)
        .values(finalised_at=None, finalised_by=None)
    )
    return await summary_view(session, caller, cycle_id)


# -- what the handler reads and writes ---------------------------------------------


@dataclass(frozen=True)
class SubmittedReview:
    id: uuid.UUID
    relationship: Relationship
    ratings: dict[str, int]
    strengths: str
    improvements: str

    def rated(self) -> RatedReview:
        return RatedReview(self.relationship, self.ratings)


@dataclass(frozen=True)
class CycleMaterial:
    """Everything a run needs, read at its start in one short transaction."""

    cycle_id: uuid.UUID
    competencies: list[str]
    reviews: list[SubmittedReview]
    finalised: bool


async def load_material(
    session: AsyncSession, tenant_id: uuid.UUID, cycle_id: uuid.UUID
) -> CycleMaterial | None:
    cycle = await session.scalar(
        select(ReviewCycle).where(ReviewCycle.id == cycle_id, ReviewCycle.tenant_id == tenant_id)
    )
    if cycle is None:
        return None
    rows = (
        await session.execute(
            select(Review, Reviewer.relationship)
            .join(Reviewer, Reviewer.id == Review.reviewer_id)
            .where(Review.cycle_id == cycle.id)
            .order_by(Review.submitted_at, Review.id)
        )
    ).all()
    reviews = [
        SubmittedReview(r.id, Relationship(rel), r.ratings, r.strengths, r.improvements)
        for r, rel in rows
    ]
    return CycleMaterial(
        cycle.id, cycle.competencies, reviews, await is_finalised(session, cycle.id)
    )


async def save_summary(
    session: AsyncSession,
    material: CycleMaterial,
    *,
    content: FeedbackSummary,
    weighting: Weighting,
    generated_by: GeneratedBy,
    operation_id: uuid.UUID,
) -> bool:
    """Write the run's summary in its completing transaction, unless the summary was
    finalised meanwhile: the row lock makes a concurrent finalise either wait for this
    write or be seen by it. Answers whether the summary was written."""
    summary = await session.scalar(
        select(CycleSummary).where(CycleSummary.cycle_id == material.cycle_id).with_for_update()
    )
    if summary is not None and summary.finalised_at is not None:
        return False
    if summary is None:
        summary = CycleSummary(cycle_id=material.cycle_id)
        session.add(summary)
    summary.content = content.model_dump(mode="json")
    summary.weighting = weighting.model_dump(mode="json")
    summary.review_ids = [r.id for r in material.reviews]
    summary.review_count = len(material.reviews)
    summary.operation_id = operation_id
    summary.record_generation(generated_by, now())
    await session.flush()
    return True
