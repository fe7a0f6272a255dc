"""What a generation reads (everything the person received in the period and the one
before) and writes (the report, or only its freshness when nothing changed)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from backend.features.evaluations.models import EvaluationStudent, PeerFeedback
from backend.features.interviews.models import InterviewFeedback, InterviewSession
from backend.features.people.models import Person, PersonPrincipal
from backend.features.reports.figures import (
    InterviewResult,
    Material,
    Received,
    ReceivedPeerFeedback,
    ReceivedReview,
)
from backend.features.reports.models import PersonReport
from backend.features.reports.periods import Period
from backend.features.reports.schemas import ReportDocument
from backend.features.reviews.models import Relationship, Review, ReviewCycle, Reviewer


def _instant(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


async def load_material(
    session: AsyncSession, tenant_id: uuid.UUID, person_id: uuid.UUID, period: Period
) -> Material | None:
    """The person's reviews, peer feedback and interview results of ``period`` and the
    period before (None when the person is gone), in three indexed reads."""
    name = await session.scalar(
        select(Person.name).where(Person.id == person_id, Person.tenant_id == tenant_id)
    )
    if name is None:
        return None
    before = period.previous()
    low, split, high = _instant(before.start), _instant(period.start), _instant(period.end)
    reviews = await _reviews(session, person_id, low, high)
    feedback = await _peer_feedback(session, person_id, low, high)
    interviews = await _interviews(session, tenant_id, person_id, low, high)
    return Material(
        person_name=name,
        current=Received(
            [r for r in reviews if r.at >= split],
            [f for f in feedback if f.at >= split],
            [i for i in interviews if i.at >= split],
        ),
        previous=Received(
            [r for r in reviews if r.at < split],
            [f for f in feedback if f.at < split],
            [i for i in interviews if i.at < split],
        ),
    )


async def _reviews(
    session: AsyncSession, person_id: uuid.UUID, low: datetime, high: datetime
) -> list[ReceivedReview]:
    # Self-reviews are the person's own view, not feedback received.
    rows = (
        await session.execute(
            select(
                Review.id,
                Review.submitted_at,
                Review.ratings,
                Review.strengths,
                Review.improvements,
            )
            .join(ReviewCycle, ReviewCycle.id == Review.cycle_id)
            .join(Reviewer, Reviewer.id == Review.reviewer_id)
            .where(
                ReviewCycle.person_id == person_id,
                Reviewer.relationship != Relationship.self.value,
                Review.submitted_at >= low,
                Review.submitted_at < high,
            )
            .order_by(Review.submitted_at, Review.id)
        )
    ).all()
    return [
        ReceivedReview(r.id, r.submitted_at, r.ratings, r.strengths, r.improvements) for r in rows
    ]


async def _peer_feedback(
    session: AsyncSession, person_id: uuid.UUID, low: datetime, high: datetime
) -> list[ReceivedPeerFeedback]:
    rows = (
        await session.execute(
            select(
                PeerFeedback.id, PeerFeedback.created_at, PeerFeedback.scores, PeerFeedback.comment
            )
            .join(EvaluationStudent, EvaluationStudent.id == PeerFeedback.to_student_id)
            .where(
                EvaluationStudent.person_id == person_id,
                PeerFeedback.created_at >= low,
                PeerFeedback.created_at < high,
            )
            .order_by(PeerFeedback.created_at, PeerFeedback.id)
        )
    ).all()
    return [ReceivedPeerFeedback(r.id, r.created_at, r.scores, r.comment) for r in rows]


async def _interviews(
    session: AsyncSession, tenant_id: uuid.UUID, person_id: uuid.UUID, low: datetime, high: datetime
) -> list[InterviewResult]:
    """Sessions of the principals linked to the person, completed in the window and
    with feedback written."""
    rows = (
        await session.execute(
            select(
                InterviewSession.id,
                InterviewSession.completed_at,
                InterviewSession.topic,
                InterviewFeedback.created_at,
                InterviewFeedback.overall_score,
                InterviewFeedback.summary,
                InterviewFeedback.strengths,
                InterviewFeedback.areas_to_improve,
            )
            .join(InterviewFeedback, InterviewFeedback.session_id == InterviewSession.id)
            .join(PersonPrincipal, PersonPrincipal.principal_id == InterviewSession.principal_id)
            .where(
                PersonPrincipal.person_id == person_id,
                InterviewSession.tenant_id == tenant_id,
                InterviewSession.completed_at >= low,
                InterviewSession.completed_at < high,
            )
            .order_by(InterviewSession.completed_at, InterviewSession.id)
        )
    ).all()
    return [
        InterviewResult(
            session_id=r[0],
            at=r[1] or r[3],  # completed sessions always have completed_at
            topic=r[2],
            written_at=r[3],
            overall_score=r[4],
            summary=r[5],
            strengths=list(r[6]),
            areas_to_improve=list(r[7]),
        )
        for r in rows
    ]


async def stored_sources(
    session: AsyncSession, person_id: uuid.UUID, period: Period
) -> dict[str, Any] | None:
    """What the stored report was built from, if there is one."""
    found: dict[str, Any] | None = await session.scalar(
        select(PersonReport.sources).where(
            PersonReport.person_id == person_id, PersonReport.period == period.key
        )
    )
    return found


async def save_report(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID,
    period: Period,
    document: ReportDocument,
    operation_id: uuid.UUID,
) -> None:
    """Write the report in the run's completing transaction (one statement)."""
    values = {
        "document": document.model_dump(mode="json"),
        "sources": document.sources.model_dump(mode="json"),
        "generated_at": document.generated_at,
        "refreshed_at": func.now(),
        "operation_id": operation_id,
    }
    await session.execute(
        insert(PersonReport)
        .values(
            tenant_id=tenant_id,
            person_id=document.person_id,
            period=period.key,
            period_start=period.start,
            period_end=period.end,
            **values,
        )
        .on_conflict_do_update(index_elements=["person_id", "period"], set_=values)
    )


async def mark_fresh(
    session: AsyncSession, person_id: uuid.UUID, period: Period, operation_id: uuid.UUID
) -> None:
    """The inputs are as they were: the stored report is up to date as of now."""
    await session.execute(
        update(PersonReport)
        .where(PersonReport.person_id == person_id, PersonReport.period == period.key)
        .values(refreshed_at=func.now(), operation_id=operation_id)
    )
