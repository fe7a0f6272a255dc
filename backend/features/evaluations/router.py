"""HTTP for evaluations: teachers (tenant admins) manage them and queue summaries; a
student's linked principal reads that student's summary and quotes."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from backend.auth.dependencies import CurrentCaller, DbSession
from backend.errors import problem_responses
from backend.features.evaluations import service, summaries
from backend.features.evaluations.models import Evaluation, PeerFeedback
from backend.features.evaluations.schemas import (
    CriterionScore,
    EvaluationCreate,
    EvaluationLinks,
    EvaluationOut,
    EvaluationSummariesOut,
    FeedbackCreate,
    FeedbackOut,
    QueuedSummary,
    Quote,
    QuotesOut,
    StudentAdd,
    StudentOut,
    StudentRef,
    StudentSummaryOut,
    SummaryLinks,
)
from backend.features.evaluations.service import StudentView
from backend.features.feedback.operations import operation_ref
from backend.features.people.access import AdminCaller
from backend.llm.tasks import FeedbackSummary
from backend.operations import batch_router
from backend.operations.http import accepted, accepted_responses, to_schema
from backend.operations.idempotency import Idempotent, remember
from backend.operations.schemas import OperationList, OperationOut
from backend.operations.states import Status
from backend.urls import url_for

router = APIRouter(prefix="/evaluations", tags=["evaluations"])

LOCATION = {"Location": {"schema": {"type": "string", "format": "uri"}}}


def evaluation_url(request: Request, evaluation_id: uuid.UUID) -> str:
    return url_for(request, "get_evaluation", evaluation_id=evaluation_id)


def summary_url(request: Request, evaluation_id: uuid.UUID, student_id: uuid.UUID) -> str:
    return url_for(
        request, "get_student_summary", evaluation_id=evaluation_id, student_id=student_id
    )


def student_out(view: StudentView) -> StudentOut:
    return StudentOut(
        id=view.student.id,
        person_id=view.person.id,
        name=view.person.name,
        feedback_received=view.feedback_received,
        created_at=view.student.created_at,
    )


def student_ref(view: StudentView) -> StudentRef:
    return StudentRef(id=view.student.id, person_id=view.person.id, name=view.person.name)


def evaluation_out(
    request: Request, evaluation: Evaluation, students: list[StudentView]
) -> EvaluationOut:
    return EvaluationOut(
        id=evaluation.id,
        title=evaluation.title,
        criteria=evaluation.criteria,
        students=[student_out(s) for s in students],
        created_at=evaluation.created_at,
        links=EvaluationLinks(
            self=evaluation_url(request, evaluation.id),
            operations=url_for(request, "list_evaluation_operations", evaluation_id=evaluation.id),
        ),
    )


def feedback_out(feedback: PeerFeedback) -> FeedbackOut:
    return FeedbackOut(
        id=feedback.id,
        from_student=feedback.from_student_id,
        to_student=feedback.to_student_id,
        scores=feedback.scores,
        comment=feedback.comment,
        created_at=feedback.created_at,
    )


def _created(request: Request, body: JSONResponse) -> JSONResponse:
    remember(request, body)
    return body


@router.post(
    "",
    name="create_evaluation",
    summary="Create an evaluation",
    status_code=201,
    response_model=EvaluationOut,
    responses={201: {"headers": LOCATION}, **problem_responses(401, 403, 422)},
)
async def create_evaluation(
    body: EvaluationCreate,
    request: Request,
    session: DbSession,
    caller: AdminCaller,
    _idempotency: Idempotent,
) -> JSONResponse:
    """A class or team evaluation with the criteria peers score. Teachers (admin keys)
    only."""
    evaluation = await service.create_evaluation(session, caller, body)
    out = evaluation_out(request, evaluation, [])
    return _created(
        request,
        JSONResponse(
            out.model_dump(mode="json"),
            status_code=201,
            headers={"Location": evaluation_url(request, evaluation.id)},
        ),
    )


@router.get(
    "/{evaluation_id}",
    name="get_evaluation",
    summary="Get an evaluation",
    response_model=EvaluationOut,
    responses=problem_responses(401, 403, 404, 422),
)
async def get_evaluation(
    evaluation_id: uuid.UUID, request: Request, session: DbSession, caller: AdminCaller
) -> EvaluationOut:
    """The evaluation with its students and how much feedback each received."""
    evaluation = await service.get_evaluation(session, caller, evaluation_id)
    return evaluation_out(request, evaluation, await service.students(session, evaluation.id))


@router.post(
    "/{evaluation_id}/students",
    name="add_student",
    summary="Add a student",
    status_code=201,
    response_model=StudentOut,
    responses={201: {"headers": LOCATION}, **problem_responses(401, 403, 404, 409, 422)},
)
async def add_student(
    evaluation_id: uuid.UUID,
    body: StudentAdd,
    request: Request,
    session: DbSession,
    caller: AdminCaller,
    _idempotency: Idempotent,
) -> JSONResponse:
    """Make a person a student of the evaluation; its `id` is the `student_id` of the
    other paths. 409 STUDENT_EXISTS if they already are one."""
    view = await service.add_student(session, caller, evaluation_id, body.person_id)
    return _created(
        request,
        JSONResponse(
            student_out(view).model_dump(mode="json"),
            status_code=201,
            headers={"Location": evaluation_url(request, evaluation_id)},
        ),
    )


@router.post(
    "/{evaluation_id}/feedback",
    name="give_feedback",
    summary="Record peer feedback",
    status_code=201,
    response_model=FeedbackOut,
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def give_feedback(
    evaluation_id: uuid.UUID,
    body: FeedbackCreate,
    request: Request,
    session: DbSession,
    caller: AdminCaller,
    _idempotency: Idempotent,
) -> JSONResponse:
    """What one student (`from`) says about a peer (`to`): a score per criterion and a
    comment. Once per pair (409 FEEDBACK_ALREADY_GIVEN); 422 SELF_FEEDBACK or
    INVALID_SCORES; 404 STUDENT_NOT_FOUND for a student not in the evaluation."""
    feedback = await service.give_feedback(session, caller, evaluation_id, body)
    return _created(
        request,
        JSONResponse(
            feedback_out(feedback).model_dump(mode="json", by_alias=True), status_code=201
        ),
    )


@router.post(
    "/{evaluation_id}/students/{student_id}/summary/generate",
    name="generate_student_summary",
    summary="Queue a student's summary",
    status_code=202,
    response_model=OperationOut,
    responses={**accepted_responses(), **problem_responses(401, 403, 404, 422)},
)
async def generate_student_summary(
    evaluation_id: uuid.UUID,
    student_id: uuid.UUID,
    request: Request,
    session: DbSession,
    caller: AdminCaller,
    _idempotency: Idempotent,
) -> JSONResponse:
    """202 with the generation; while one is pending or processing for the student,
    that one is answered. 422 NO_FEEDBACK for a student without feedback. With
    `Prefer: wait=N` the answer waits up to N seconds for the summary."""
    op = await summaries.request_summary(
        session,
        request.app.state.registry,
        caller,
        evaluation_id,
        student_id,
        target=summary_url(request, evaluation_id, student_id),
    )
    return accepted(request, op)


@router.post(
    "/{evaluation_id}/summaries/generate",
    name="generate_evaluation_summaries",
    summary="Queue a summary for every student",
    status_code=202,
    response_model=EvaluationSummariesOut,
    responses={202: {"headers": LOCATION}, **problem_responses(401, 403, 404, 422)},
)
async def generate_evaluation_summaries(
    evaluation_id: uuid.UUID,
    request: Request,
    session: DbSession,
    caller: AdminCaller,
    _idempotency: Idempotent,
) -> JSONResponse:
    """One operation per student with feedback, created together as a batch (follow it
    at Location: `/api/v1/batches/{id}`). Students already being summarised keep their
    running operation; students without feedback are listed, not queued. 422
    NO_FEEDBACK when no student has feedback."""
    result = await summaries.request_all(
        session,
        request.app.state.registry,
        caller,
        evaluation_id,
        evaluation_url=evaluation_url(request, evaluation_id),
        summary_url=lambda student_id: summary_url(request, evaluation_id, student_id),
    )
    out = EvaluationSummariesOut(
        batch=batch_router.to_schema(request, result.batch) if result.batch else None,
        operations=[
            QueuedSummary(
                student_id=q.student.student.id, operation_id=q.operation.id, queued=q.created
            )
            for q in result.queued
        ],
        without_feedback=[student_ref(s) for s in result.without_feedback],
    )
    headers = {"Retry-After": batch_router.RETRY_AFTER}
    if result.batch is not None:
        headers["Location"] = batch_router.batch_url(request, result.batch.batch.id)
    response = JSONResponse(out.model_dump(mode="json"), status_code=202, headers=headers)
    remember(request, response)
    return response


@router.get(
    "/{evaluation_id}/operations",
    name="list_evaluation_operations",
    summary="List an evaluation's summary operations",
    response_model=OperationList,
    responses=problem_responses(401, 403, 404, 422),
)
async def list_evaluation_operations(
    evaluation_id: uuid.UUID,
    request: Request,
    session: DbSession,
    caller: AdminCaller,
    status: Annotated[list[Status] | None, Query(description="Repeat to match several.")] = None,
    page_size: Annotated[int, Query(ge=1, le=100)] = 20,
    page_token: Annotated[str | None, Query(max_length=200)] = None,
) -> OperationList:
    """Every summary operation of the evaluation still kept, newest first."""
    ops, token = await summaries.list_operations(
        session,
        caller,
        evaluation_id,
        statuses=status or [],
        page_size=page_size,
        page_token=page_token,
    )
    return OperationList(operations=[to_schema(request, op) for op in ops], next_page_token=token)


@router.get(
    "/{evaluation_id}/students/{student_id}/summary",
    name="get_student_summary",
    summary="Get a student's summary",
    response_model=StudentSummaryOut,
    responses=problem_responses(401, 404, 422),
)
async def get_student_summary(
    evaluation_id: uuid.UUID,
    student_id: uuid.UUID,
    request: Request,
    session: DbSession,
    caller: CurrentCaller,
) -> StudentSummaryOut:
    """The summary, the average score per criterion, and its provenance. Teachers read
    any student's; a principal linked to the student reads their own. `stale` is true
    when feedback arrived after it was generated."""
    evaluation, student = await service.readable_student(session, caller, evaluation_id, student_id)
    view = await summaries.summary_view(session, evaluation, student)
    s = view.summary
    return StudentSummaryOut(
        evaluation_id=evaluation.id,
        student=student_ref(student),
        content=FeedbackSummary.model_validate(s.content),
        scores=[CriterionScore.model_validate(score) for score in s.scores],
        feedback_count=s.feedback_count,
        feedback_received=student.feedback_received,
        stale=view.stale,
        generated_by=s.generated_by,
        generated_at=s.generated_at,
        operation=operation_ref(request, view.operation),
        links=SummaryLinks(
            self=summary_url(request, evaluation.id, student_id),
            quotes=url_for(
                request, "get_student_quotes", evaluation_id=evaluation.id, student_id=student_id
            ),
            evaluation=evaluation_url(request, evaluation.id),
        ),
    )


@router.get(
    "/{evaluation_id}/students/{student_id}/quotes",
    name="get_student_quotes",
    summary="Get the anonymised quotes of a student's summary",
    response_model=QuotesOut,
    responses=problem_responses(401, 404, 422),
)
async def get_student_quotes(
    evaluation_id: uuid.UUID, student_id: uuid.UUID, session: DbSession, caller: CurrentCaller
) -> QuotesOut:
    """The comments the summary is based on: no author, classmates' names removed, in an
    order unrelated to when they were written. Same readers as the summary."""
    evaluation, student = await service.readable_student(session, caller, evaluation_id, student_id)
    texts = await summaries.summary_quotes(session, evaluation, student)
    return QuotesOut(student_id=student_id, quotes=[Quote(text=t) for t in texts])
