"""Evaluations, their students and peer feedback. Teachers (tenant admins) manage them;
a principal linked to a student's person may read that student's summary only."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth.service import Caller
from backend.features.evaluations.exceptions import (
    EvaluationNotFound,
    FeedbackAlreadyGiven,
    InvalidScores,
    SelfFeedback,
    StudentExists,
    StudentNotFound,
    TooManyStudents,
)
from backend.features.evaluations.models import Evaluation, EvaluationStudent, PeerFeedback
from backend.features.evaluations.schemas import EvaluationCreate, FeedbackCreate
from backend.features.feedback.marks import check_marks
from backend.features.people.access import is_admin, person_of_principal
from backend.features.people.models import Person
from backend.features.people.service import get_person
from backend.ids import new_id
from backend.operations.service import MAX_BATCH_SIZE

# One batch covers the whole evaluation, so an evaluation is at most one batch large.
MAX_STUDENTS = MAX_BATCH_SIZE


@dataclass(frozen=True)
class StudentView:
    student: EvaluationStudent
    person: Person
    feedback_received: int


async def create_evaluation(
    session: AsyncSession, caller: Caller, body: EvaluationCreate
) -> Evaluation:
    evaluation = Evaluation(
        tenant_id=caller.tenant_id,
        title=body.title,
        criteria=body.criteria,
        created_by=caller.principal_id,
    )
    session.add(evaluation)
    await session.flush()
    await session.refresh(evaluation)
    return evaluation


async def get_evaluation(
    session: AsyncSession, caller: Caller, evaluation_id: uuid.UUID
) -> Evaluation:
    """The tenant's evaluation (callers here are admins: see ``AdminCaller``)."""
    evaluation = await session.scalar(
        select(Evaluation).where(
            Evaluation.id == evaluation_id, Evaluation.tenant_id == caller.tenant_id
        )
    )
    if evaluation is None:
        raise EvaluationNotFound()
    return evaluation


async def students(session: AsyncSession, evaluation_id: uuid.UUID) -> list[StudentView]:
    """The evaluation's students, oldest first, with the feedback each received."""
    received = (
        select(PeerFeedback.to_student_id, func.count().label("n"))
        .where(PeerFeedback.evaluation_id == evaluation_id)
        .group_by(PeerFeedback.to_student_id)
        .subquery()
    )
    rows = (
        await session.execute(
            select(EvaluationStudent, Person, func.coalesce(received.c.n, 0))
            .join(Person, Person.id == EvaluationStudent.person_id)
            .outerjoin(received, received.c.to_student_id == EvaluationStudent.id)
            .where(EvaluationStudent.evaluation_id == evaluation_id)
            .order_by(EvaluationStudent.created_at, EvaluationStudent.id)
        )
    ).all()
    return [StudentView(s, p, int(n)) for s, p, n in rows]


async def add_student(
    session: AsyncSession, caller: Caller, evaluation_id: uuid.UUID, person_id: uuid.UUID
) -> StudentView:
    evaluation = await get_evaluation(session, caller, evaluation_id)
    person = await get_person(session, caller.tenant_id, person_id)
    # Taking turns on the evaluation keeps the count of students exact.
    await session.execute(
        select(Evaluation.id).where(Evaluation.id == evaluation.id).with_for_update(key_share=True)
    )
    count = await session.scalar(
        select(func.count())
        .select_from(EvaluationStudent)
        .where(EvaluationStudent.evaluation_id == evaluation.id)
    )
    if (count or 0) >= MAX_STUDENTS:
        raise TooManyStudents(MAX_STUDENTS)
    student_id = await session.scalar(
        insert(EvaluationStudent)
        .values(id=new_id(), evaluation_id=evaluation.id, person_id=person.id)
        .on_conflict_do_nothing(index_elements=["evaluation_id", "person_id"])
        .returning(EvaluationStudent.id)
    )
    if student_id is None:
        raise StudentExists()
    student = await session.get(EvaluationStudent, student_id)
    assert student is not None
    return StudentView(student, person, 0)


async def find_student(
    session: AsyncSession, evaluation: Evaluation, student_id: uuid.UUID
) -> StudentView:
    row = (
        await session.execute(
            select(EvaluationStudent, Person)
            .join(Person, Person.id == EvaluationStudent.person_id)
            .where(
                EvaluationStudent.id == student_id,
                EvaluationStudent.evaluation_id == evaluation.id,
            )
        )
    ).first()
    if row is None:
        raise StudentNotFound()
    received = await session.scalar(
        select(func.count())
        .select_from(PeerFeedback)
        .where(PeerFeedback.to_student_id == student_id)
    )
    return StudentView(row[0], row[1], received or 0)


async def readable_student(
    session: AsyncSession, caller: Caller, evaluation_id: uuid.UUID, student_id: uuid.UUID
) -> tuple[Evaluation, StudentView]:
    """A student whose summary the caller may read: any of the tenant's for an admin,
    only their own for a principal linked to the student's person. Anything else is
    STUDENT_NOT_FOUND, so a student learns nothing about others."""
    if is_admin(caller):
        evaluation = await get_evaluation(session, caller, evaluation_id)
        return evaluation, await find_student(session, evaluation, student_id)
    person_id = await person_of_principal(session, caller.principal_id)
    found = await session.scalar(
        select(Evaluation).where(
            Evaluation.id == evaluation_id, Evaluation.tenant_id == caller.tenant_id
        )
    )
    if person_id is None or found is None:
        raise StudentNotFound()
    view = await find_student(session, found, student_id)
    if view.student.person_id != person_id:
        raise StudentNotFound()
    return found, view


def check_scores(criteria: list[str], scores: dict[str, int]) -> None:
    check_marks(criteria, scores, InvalidScores)


async def give_feedback(
    session: AsyncSession, caller: Caller, evaluation_id: uuid.UUID, body: FeedbackCreate
) -> PeerFeedback:
    """Record one student's feedback on a peer: once per pair (409 after that)."""
    evaluation = await get_evaluation(session, caller, evaluation_id)
    if body.from_student == body.to_student:
        raise SelfFeedback()
    members = set(
        (
            await session.scalars(
                select(EvaluationStudent.id).where(
                    EvaluationStudent.evaluation_id == evaluation.id,
                    EvaluationStudent.id.in_([body.from_student, body.to_student]),
                )
            )
        ).all()
    )
    if members != {body.from_student, body.to_student}:
        raise StudentNotFound()
    check_scores(evaluation.criteria, body.scores)
    # uq_peer_feedback_from_student_id settles two racing submissions of one pair.
    feedback_id = await session.scalar(
        insert(PeerFeedback)
        .values(
            id=new_id(),
            evaluation_id=evaluation.id,
            from_student_id=body.from_student,
            to_student_id=body.to_student,
            scores=body.scores,
            comment=body.comment,
        )
        .on_conflict_do_nothing(index_elements=["from_student_id", "to_student_id"])
        .returning(PeerFeedback.id)
    )
    if feedback_id is None:
        raise FeedbackAlreadyGiven()
    feedback = await session.get(PeerFeedback, feedback_id)
    assert feedback is not None
    return feedback
