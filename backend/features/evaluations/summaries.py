"""Students' summaries: queue one or the whole evaluation (deduplicated per student),
list an evaluation's operations, read a summary and its quotes, and what the handler
reads and writes."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import delete, func, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth.service import Caller
from backend.features.evaluations import quotes
from backend.features.evaluations.exceptions import NoFeedback, SummaryNotFound
from backend.features.evaluations.models import (
    Evaluation,
    EvaluationOperation,
    EvaluationStudent,
    PeerFeedback,
    StudentSummary,
)
from backend.features.evaluations.schemas import (
    SUMMARY_KIND,
    CriterionScore,
    StudentSummaryParams,
)
from backend.features.evaluations.service import StudentView, find_student, get_evaluation, students
from backend.features.feedback.operations import unless_completed
from backend.features.feedback.provenance import GeneratedBy
from backend.features.people.models import Person
from backend.llm.tasks import FeedbackSummary
from backend.operations import service
from backend.operations.batches import BatchView
from backend.operations.models import Operation, OperationBatch
from backend.operations.registry import Registry
from backend.operations.states import Status

SummaryUrl = Callable[[uuid.UUID], str]


def dedup_key(student_id: uuid.UUID) -> str:
    return f"evaluation-summary:{student_id}"


async def queue_summary(
    session: AsyncSession,
    registry: Registry,
    evaluation: Evaluation,
    student_id: uuid.UUID,
    *,
    principal_id: uuid.UUID,
    target: str,
    batch_id: uuid.UUID | None = None,
) -> Operation:
    """Create the student's summary operation, or answer the one already pending or
    processing (uq_operations_dedup decides, whichever request or batch created it)."""
    op = await service.create_operation(
        session,
        registry,
        tenant_id=evaluation.tenant_id,
        principal_id=principal_id,
        kind=SUMMARY_KIND,
        params=StudentSummaryParams(evaluation_id=evaluation.id, student_id=student_id),
        target=target,
        dedup_key=dedup_key(student_id),
        batch_id=batch_id,
    )
    await session.execute(
        insert(EvaluationOperation)
        .values(operation_id=op.id, evaluation_id=evaluation.id, student_id=student_id)
        .on_conflict_do_nothing(index_elements=["operation_id"])
    )
    return op


async def request_summary(
    session: AsyncSession,
    registry: Registry,
    caller: Caller,
    evaluation_id: uuid.UUID,
    student_id: uuid.UUID,
    *,
    target: str,
) -> Operation:
    evaluation = await get_evaluation(session, caller, evaluation_id)
    view = await find_student(session, evaluation, student_id)
    if view.feedback_received == 0:
        raise NoFeedback(
            "This student has received no feedback yet: there is nothing to summarise."
        )
    return await queue_summary(
        session, registry, evaluation, student_id, principal_id=caller.principal_id, target=target
    )


@dataclass(frozen=True)
class Queued:
    student: StudentView
    operation: Operation
    created: bool


@dataclass(frozen=True)
class EvaluationQueue:
    batch: BatchView | None
    queued: list[Queued]
    without_feedback: list[StudentView]


async def request_all(
    session: AsyncSession,
    registry: Registry,
    caller: Caller,
    evaluation_id: uuid.UUID,
    *,
    evaluation_url: str,
    summary_url: SummaryUrl,
) -> EvaluationQueue:
    """One operation per student with feedback, in one batch and one transaction.
    Students already being summarised keep their operation (it is reported, not in the
    batch); students without feedback are reported and skipped."""
    evaluation = await get_evaluation(session, caller, evaluation_id)
    everyone = await students(session, evaluation.id)
    with_feedback = [s for s in everyone if s.feedback_received > 0]
    if not with_feedback:
        raise NoFeedback("No student of this evaluation has received feedback yet.")
    batch = OperationBatch(
        tenant_id=caller.tenant_id, principal_id=caller.principal_id, target=evaluation_url
    )
    session.add(batch)
    await session.flush()
    queued = []
    for view in with_feedback:
        op = await queue_summary(
            session,
            registry,
            evaluation,
            view.student.id,
            principal_id=caller.principal_id,
            target=summary_url(view.student.id),
            batch_id=batch.id,
        )
        queued.append(Queued(view, op, created=op.batch_id == batch.id))
    batch_view = None
    if any(q.created for q in queued):
        batch_view = await service.get_batch(session, caller.tenant_id, batch.id)
    else:
        await session.execute(delete(OperationBatch).where(OperationBatch.id == batch.id))
    without = [s for s in everyone if s.feedback_received == 0]
    return EvaluationQueue(batch_view, queued, without)


async def list_operations(
    session: AsyncSession,
    caller: Caller,
    evaluation_id: uuid.UUID,
    *,
    statuses: list[Status],
    page_size: int,
    page_token: str | None,
) -> tuple[list[Operation], str | None]:
    """The evaluation's summary operations, newest first (keyset on the operation id,
    served by ix_evaluation_operations_evaluation_id)."""
    evaluation = await get_evaluation(session, caller, evaluation_id)
    stmt = (
        select(Operation)
        .join(EvaluationOperation, EvaluationOperation.operation_id == Operation.id)
        .where(
            EvaluationOperation.evaluation_id == evaluation.id,
            or_(Operation.expires_at.is_(None), Operation.expires_at >= func.now()),
        )
    )
    if statuses:
        stmt = stmt.where(Operation.status.in_([s.value for s in statuses]))
    if page_token is not None:
        stmt = stmt.where(Operation.id < service.decode_page_token(page_token))
    rows = list(
        (await session.scalars(stmt.order_by(Operation.id.desc()).limit(page_size + 1))).all()
    )
    token = service.encode_page_token(rows[page_size - 1].id) if len(rows) > page_size else None
    return rows[:page_size], token


async def newest_operation(session: AsyncSession, student_id: uuid.UUID) -> Operation | None:
    """The student's newest summary operation (ix_evaluation_operations_student_id)."""
    found: Operation | None = await session.scalar(
        select(Operation)
        .join(EvaluationOperation, EvaluationOperation.operation_id == Operation.id)
        .where(EvaluationOperation.student_id == student_id)
        .order_by(Operation.id.desc())
        .limit(1)
    )
    return found


@dataclass(frozen=True)
class SummaryView:
    summary: StudentSummary
    student: StudentView
    stale: bool
    operation: Operation | None


async def summary_view(
    session: AsyncSession, evaluation: Evaluation, student: StudentView
) -> SummaryView:
    operation = unless_completed(await newest_operation(session, student.student.id))
    summary = await session.get(StudentSummary, student.student.id, populate_existing=True)
    if summary is None:
        raise SummaryNotFound(operation)
    newer = await session.scalar(
        select(func.count())
        .select_from(PeerFeedback)
        .where(
            PeerFeedback.to_student_id == student.student.id,
            PeerFeedback.id.not_in(summary.feedback_ids),
        )
    )
    return SummaryView(summary, student, bool(newer), operation)


async def summary_quotes(
    session: AsyncSession, evaluation: Evaluation, student: StudentView
) -> list[str]:
    """The comments the summary is based on, anonymised (see ``quotes``)."""
    summary = await session.get(StudentSummary, student.student.id)
    if summary is None:
        raise SummaryNotFound()
    comments = (
        await session.scalars(
            select(PeerFeedback.comment).where(PeerFeedback.id.in_(summary.feedback_ids))
        )
    ).all()
    classmates = (
        await session.scalars(
            select(Person.name)
            .join(EvaluationStudent, EvaluationStudent.person_id == Person.id)
            .where(EvaluationStudent.evaluation_id == evaluation.id)
        )
    ).all()
    return quotes.quotes(comments, classmates, subject=student.person.name)


# -- what the handler reads and writes ---------------------------------------------


@dataclass(frozen=True)
class ReceivedFeedback:
    id: uuid.UUID
    scores: dict[str, int]
    comment: str


@dataclass(frozen=True)
class StudentMaterial:
    """Everything a run needs, read at its start in one short transaction."""

    student_id: uuid.UUID
    criteria: list[str]
    feedback: list[ReceivedFeedback]


async def load_material(
    session: AsyncSession, tenant_id: uuid.UUID, params: StudentSummaryParams
) -> StudentMaterial | None:
    evaluation = await session.scalar(
        select(Evaluation).where(
            Evaluation.id == params.evaluation_id, Evaluation.tenant_id == tenant_id
        )
    )
    if evaluation is None:
        return None
    rows = (
        await session.scalars(
            select(PeerFeedback)
            .where(
                PeerFeedback.to_student_id == params.student_id,
                PeerFeedback.evaluation_id == evaluation.id,
            )
            .order_by(PeerFeedback.created_at, PeerFeedback.id)
        )
    ).all()
    feedback = [ReceivedFeedback(f.id, f.scores, f.comment) for f in rows]
    return StudentMaterial(params.student_id, evaluation.criteria, feedback)


def criterion_scores(material: StudentMaterial) -> list[CriterionScore]:
    """The average score per criterion over the feedback (computed, not generated)."""
    result = []
    for criterion in material.criteria:
        values = [f.scores[criterion] for f in material.feedback if criterion in f.scores]
        average = round(sum(values) / len(values), 2) if values else 0.0
        result.append(CriterionScore(criterion=criterion, average=average))
    return result


async def save_summary(
    session: AsyncSession,
    material: StudentMaterial,
    *,
    content: FeedbackSummary,
    scores: list[CriterionScore],
    generated_by: GeneratedBy,
    operation_id: uuid.UUID,
) -> None:
    """Write the summary in the run's completing transaction (one statement)."""
    values = {
        "content": content.model_dump(mode="json"),
        "scores": [s.model_dump(mode="json") for s in scores],
        "feedback_ids": [f.id for f in material.feedback],
        "feedback_count": len(material.feedback),
        "operation_id": operation_id,
        "provider": generated_by.provider,
        "model": generated_by.model,
        "prompt_name": generated_by.prompt,
        "prompt_version": generated_by.prompt_version,
        "prompt_digest": generated_by.prompt_digest,
        "generated_at": datetime.now(UTC),
    }
    await session.execute(
        insert(StudentSummary)
        .values(student_id=material.student_id, **values)
        .on_conflict_do_update(index_elements=["student_id"], set_=values)
    )
