"""What a reviewer does with their private link, without an account: open the
invitation, and submit one review. Submitting never waits for the model: it inserts
the review and, from the second review on, creates or joins the coalesced summary
operation in the same transaction."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from backend.features.feedback.marks import check_marks
from backend.features.people.models import Person
from backend.features.reviews import summaries
from backend.features.reviews.exceptions import (
    InvalidRatings,
    InvitationExpired,
    InvitationNotFound,
    InvitationRevoked,
    ReviewAlreadySubmitted,
)
from backend.features.reviews.models import Review, ReviewCycle, Reviewer
from backend.features.reviews.schemas import ReviewSubmit
from backend.features.reviews.service import hash_token, now
from backend.ids import new_id
from backend.operations.registry import Registry


@dataclass(frozen=True)
class Invitation:
    reviewer: Reviewer
    cycle: ReviewCycle
    subject: str
    submitted_at: datetime | None


async def open_invitation(session: AsyncSession, token: str) -> Invitation:
    """The invitation behind a token: unknown 404, withdrawn or closed 410 (served by
    uq_reviewers_token_hash; only the token's hash is ever compared)."""
    row = (
        await session.execute(
            select(Reviewer, ReviewCycle, Person.name, Review.submitted_at)
            .join(ReviewCycle, ReviewCycle.id == Reviewer.cycle_id)
            .join(Person, Person.id == ReviewCycle.person_id)
            .outerjoin(Review, Review.reviewer_id == Reviewer.id)
            .where(Reviewer.token_hash == hash_token(token))
        )
    ).first()
    if row is None:
        raise InvitationNotFound()
    reviewer, cycle, subject, submitted_at = row
    if reviewer.revoked_at is not None:
        raise InvitationRevoked()
    if cycle.closes_at <= now():
        raise InvitationExpired()
    return Invitation(reviewer, cycle, subject, submitted_at)


def check_ratings(competencies: list[str], ratings: dict[str, int]) -> None:
    check_marks(competencies, ratings, InvalidRatings)


async def submit_review(
    session: AsyncSession,
    registry: Registry,
    token: str,
    body: ReviewSubmit,
    *,
    summary_url: Callable[[uuid.UUID], str],
    debounce: timedelta | None,
) -> tuple[Review, ReviewCycle]:
    """Record the review (once per link: 409 after that) and, from the second review
    of the cycle on, ask for the summary to be regenerated."""
    invitation = await open_invitation(session, token)
    if invitation.submitted_at is not None:
        raise ReviewAlreadySubmitted()
    cycle = invitation.cycle
    check_ratings(cycle.competencies, body.ratings)
    # Reviews of one cycle take turns on its row for a moment, so each one's count of
    # reviews sees every review committed before it: two first reviews racing cannot
    # both count one and leave the cycle without a summary.
    await session.execute(
        select(ReviewCycle.id).where(ReviewCycle.id == cycle.id).with_for_update(key_share=True)
    )
    # uq_reviews_reviewer_id settles two submissions with the same link racing.
    review_id = await session.scalar(
        insert(Review)
        .values(
            id=new_id(),
            cycle_id=cycle.id,
            reviewer_id=invitation.reviewer.id,
            ratings=body.ratings,
            strengths=body.strengths,
            improvements=body.improvements,
        )
        .on_conflict_do_nothing(index_elements=["reviewer_id"])
        .returning(Review.id)
    )
    if review_id is None:
        raise ReviewAlreadySubmitted()
    await summaries.after_review(
        session, registry, cycle, target=summary_url(cycle.id), debounce=debounce
    )
    review = await session.get(Review, review_id)
    assert review is not None
    return review, cycle
