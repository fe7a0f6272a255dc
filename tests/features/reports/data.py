"""What people received, written straight into the database with the timestamps a test
needs (the feature APIs stamp rows with the current time), and report requests."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.features.evaluations.models import Evaluation, EvaluationStudent, PeerFeedback
from backend.features.interviews.models import InterviewFeedback, InterviewSession
from backend.features.people.models import Person, PersonPrincipal
from backend.features.reports.models import PersonReport
from backend.features.reviews.models import Review, ReviewCycle, Reviewer
from tests.conftest import ApiCaller

NARRATIVE: dict[str, Any] = {
    "headline": "A steady quarter with clearer writing",
    "summary": "Reviewers and classmates praise the clarity of the writing.",
    "highlights": ["Clear, well-structured documents"],
    "themes": ["written communication", "planning"],
    "next_steps": ["Share plans earlier with the team"],
}


def at(text: str) -> datetime:
    """An instant in UTC from ``2026-10-05`` or ``2026-10-05T12:00``."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@dataclass
class Subject:
    """A person of a tenant, with the cycle and evaluation their feedback goes to."""

    sessionmaker: async_sessionmaker[AsyncSession]
    tenant_id: uuid.UUID
    person_id: uuid.UUID
    cycle_id: uuid.UUID
    evaluation_id: uuid.UUID
    student_id: uuid.UUID
    _peers: list[uuid.UUID] = field(default_factory=list)

    async def review(
        self,
        when: str,
        ratings: dict[str, int],
        strengths: str = "Writes clear documents.",
        improvements: str = "Could share plans earlier.",
        relationship: str = "peer",
    ) -> None:
        async with self.sessionmaker() as session:
            reviewer = Reviewer(
                cycle_id=self.cycle_id,
                name="Reviewer",
                relationship=relationship,
                token_hash=uuid.uuid4().hex + uuid.uuid4().hex,
            )
            session.add(reviewer)
            await session.flush()
            session.add(
                Review(
                    cycle_id=self.cycle_id,
                    reviewer_id=reviewer.id,
                    ratings=ratings,
                    strengths=strengths,
                    improvements=improvements,
                    submitted_at=at(when),
                )
            )
            await session.commit()

    async def peer_feedback(
        self, when: str, scores: dict[str, int], comment: str = "A reliable teammate."
    ) -> None:
        async with self.sessionmaker() as session:
            peer = Person(tenant_id=self.tenant_id, name="Classmate")
            session.add(peer)
            await session.flush()
            student = EvaluationStudent(evaluation_id=self.evaluation_id, person_id=peer.id)
            session.add(student)
            await session.flush()
            session.add(
                PeerFeedback(
                    evaluation_id=self.evaluation_id,
                    from_student_id=student.id,
                    to_student_id=self.student_id,
                    scores=scores,
                    comment=comment,
                    created_at=at(when),
                )
            )
            await session.commit()

    async def interview(self, principal_id: Any, when: str, score: int) -> None:
        """A completed practice session of ``principal_id`` with its feedback."""
        async with self.sessionmaker() as session:
            interview = InterviewSession(
                tenant_id=self.tenant_id,
                principal_id=principal_id,
                role="Analyst",
                seniority="junior",
                topic="SQL",
                status="completed",
                turn_count=1,
                created_at=at(when) - timedelta(hours=1),
                completed_at=at(when),
            )
            session.add(interview)
            await session.flush()
            session.add(
                InterviewFeedback(
                    session_id=interview.id,
                    overall_score=score,
                    summary="Clear answers; name the trade-offs.",
                    strengths=["Explains joins simply"],
                    areas_to_improve=["Name the trade-offs you weighed"],
                    questions=[],
                    provider="local",
                    model="local",
                    prompt_name="interview_session_feedback",
                    prompt_version=1,
                    prompt_digest="0" * 12,
                    created_at=at(when) + timedelta(minutes=5),
                )
            )
            await session.commit()

    async def link(self, principal_id: Any) -> None:
        async with self.sessionmaker() as session:
            session.add(PersonPrincipal(principal_id=principal_id, person_id=self.person_id))
            await session.commit()

    def path(self, period: str) -> str:
        return f"/api/v1/people/{self.person_id}/reports/{period}"


async def subject(
    sessionmaker: async_sessionmaker[AsyncSession], tenant_id: Any, name: str = "Sam Rivera"
) -> Subject:
    """A person with an (empty) review cycle and evaluation about them."""
    async with sessionmaker() as session:
        person = Person(tenant_id=tenant_id, name=name)
        session.add(person)
        await session.flush()
        cycle = ReviewCycle(
            tenant_id=tenant_id,
            person_id=person.id,
            title="Autumn review",
            competencies=["Communication", "Delivery"],
            closes_at=at("2027-01-01"),
        )
        evaluation = Evaluation(
            tenant_id=tenant_id, title="Team project", criteria=["Communication", "Teamwork"]
        )
        session.add_all([cycle, evaluation])
        await session.flush()
        student = EvaluationStudent(evaluation_id=evaluation.id, person_id=person.id)
        session.add(student)
        await session.flush()
        made = Subject(sessionmaker, tenant_id, person.id, cycle.id, evaluation.id, student.id)
        await session.commit()
    return made


async def age_report(
    sessionmaker: async_sessionmaker[AsyncSession], person_id: uuid.UUID, seconds: float
) -> None:
    """Make the stored reports of the person ``seconds`` older."""
    async with sessionmaker() as session:
        await session.execute(
            update(PersonReport)
            .where(PersonReport.person_id == person_id)
            .values(refreshed_at=PersonReport.refreshed_at - timedelta(seconds=seconds))
        )
        await session.commit()


async def get_report(
    client: httpx.AsyncClient, caller: ApiCaller, path: str, **params: Any
) -> httpx.Response:
    return await client.get(path, params=params, headers=caller.headers)
