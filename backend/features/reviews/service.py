"""Review cycles and their reviewers: create, read, invite, revoke.

A cycle belongs to its tenant and is managed by the principal who created it; tenant
admins manage every cycle of the tenant. Anyone else gets CYCLE_NOT_FOUND.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth.service import Caller
from backend.features.feedback.operations import operation_by_id, unless_completed
from backend.features.people.access import is_admin
from backend.features.people.models import Person
from backend.features.people.service import get_person
from backend.features.reviews.exceptions import (
    CycleClosed,
    CycleNotFound,
    InvalidClosesAt,
    ReviewerNotFound,
)
from backend.features.reviews.models import Review, ReviewCycle, Reviewer
from backend.features.reviews.schemas import CycleCreate, ReviewerCreate, ReviewerStatus
from backend.operations.models import Operation


def new_token() -> str:
    """An invitation secret: 256 random bits, URL-safe."""
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    # Tokens are long random strings, so a fast hash is enough (as for API keys).
    return hashlib.sha256(token.encode()).hexdigest()


def now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class ReviewerView:
    reviewer: Reviewer
    submitted_at: datetime | None

    @property
    def status(self) -> ReviewerStatus:
        if self.submitted_at is not None:
            return ReviewerStatus.submitted
        if self.reviewer.revoked_at is not None:
            return ReviewerStatus.revoked
        return ReviewerStatus.invited


@dataclass(frozen=True)
class CycleView:
    cycle: ReviewCycle
    person: Person
    reviewers: list[ReviewerView]
    summary_operation: Operation | None

    @property
    def reviews_submitted(self) -> int:
        return sum(1 for r in self.reviewers if r.submitted_at is not None)


async def create_cycle(
    session: AsyncSession, caller: Caller, body: CycleCreate, *, default_days: int
) -> ReviewCycle:
    person = await get_person(session, caller.tenant_id, body.person_id)
    closes_at = body.closes_at or now() + timedelta(days=default_days)
    if closes_at.tzinfo is None:
        closes_at = closes_at.replace(tzinfo=UTC)
    if closes_at <= now():
        raise InvalidClosesAt()
    cycle = ReviewCycle(
        tenant_id=caller.tenant_id,
        person_id=person.id,
        created_by=caller.principal_id,
        title=body.title,
        competencies=body.competencies,
        closes_at=closes_at,
    )
    session.add(cycle)
    await session.flush()
    await session.refresh(cycle)
    return cycle


async def get_cycle(
    session: AsyncSession, caller: Caller, cycle_id: uuid.UUID, *, lock: bool = False
) -> ReviewCycle:
    """The cycle if the caller manages it. ``lock``: hold it (FOR NO KEY UPDATE) until
    the transaction ends, so reviews and generation requests of one cycle take turns."""
    stmt = select(ReviewCycle).where(
        ReviewCycle.id == cycle_id, ReviewCycle.tenant_id == caller.tenant_id
    )
    if not is_admin(caller):
        stmt = stmt.where(ReviewCycle.created_by == caller.principal_id)
    if lock:
        stmt = stmt.with_for_update(key_share=True)
    cycle = await session.scalar(stmt)
    if cycle is None:
        raise CycleNotFound()
    return cycle


async def cycle_view(session: AsyncSession, caller: Caller, cycle_id: uuid.UUID) -> CycleView:
    cycle = await get_cycle(session, caller, cycle_id)
    person = await get_person(session, caller.tenant_id, cycle.person_id)
    rows = (
        await session.execute(
            select(Reviewer, Review.submitted_at)
            .outerjoin(Review, Review.reviewer_id == Reviewer.id)
            .where(Reviewer.cycle_id == cycle.id)
            .order_by(Reviewer.created_at, Reviewer.id)
        )
    ).all()
    newest = await operation_by_id(session, caller.tenant_id, cycle.summary_operation_id)
    return CycleView(
        cycle, person, [ReviewerView(r, at) for r, at in rows], unless_completed(newest)
    )


async def invite_reviewer(
    session: AsyncSession, caller: Caller, cycle_id: uuid.UUID, body: ReviewerCreate
) -> tuple[Reviewer, str]:
    """A new reviewer and the token of their link (returned once, stored hashed)."""
    cycle = await get_cycle(session, caller, cycle_id)
    if cycle.closes_at <= now():
        raise CycleClosed()
    token = new_token()
    reviewer = Reviewer(
        cycle_id=cycle.id,
        name=body.name,
        relationship=body.relationship.value,
        token_hash=hash_token(token),
    )
    session.add(reviewer)
    await session.flush()
    await session.refresh(reviewer)
    return reviewer, token


async def revoke_reviewer(
    session: AsyncSession, caller: Caller, cycle_id: uuid.UUID, reviewer_id: uuid.UUID
) -> ReviewerView:
    """Withdraw a reviewer's link (again: harmless). A review already submitted stays."""
    cycle = await get_cycle(session, caller, cycle_id)
    row = (
        await session.execute(
            select(Reviewer, Review.submitted_at)
            .outerjoin(Review, Review.reviewer_id == Reviewer.id)
            .where(Reviewer.id == reviewer_id, Reviewer.cycle_id == cycle.id)
            .with_for_update(of=Reviewer)
        )
    ).first()
    if row is None:
        raise ReviewerNotFound()
    reviewer, submitted_at = row
    if reviewer.revoked_at is None:
        reviewer.revoked_at = now()
        await session.flush()
    return ReviewerView(reviewer, submitted_at)


async def reviews_submitted(session: AsyncSession, cycle_id: uuid.UUID) -> int:
    """Served by ix_reviews_cycle_id."""
    count: int = (
        await session.scalar(
            select(func.count()).select_from(Review).where(Review.cycle_id == cycle_id)
        )
        or 0
    )
    return count
