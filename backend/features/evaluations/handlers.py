"""The `evaluation.summary` handler: read the feedback a student received, compute the
scores, ask the model, and write the student's summary."""

from __future__ import annotations

from backend.features.evaluations import summaries
from backend.features.evaluations.schemas import StudentSummaryParams, StudentSummaryResult
from backend.features.feedback.provenance import GeneratedBy
from backend.llm.tasks import FeedbackSummary
from backend.operations.context import OperationContext
from backend.operations.exceptions import PermanentFailure

PROMPT = "evaluation_summary"


async def summarise_student(
    ctx: OperationContext, params: StudentSummaryParams
) -> StudentSummaryResult:
    # Read in a short transaction of its own: none is open during the model call.
    async with ctx.sessionmaker() as session:
        material = await summaries.load_material(session, ctx.tenant_id, params)
    if material is None:
        raise PermanentFailure("EVALUATION_NOT_FOUND", "The evaluation no longer exists.")
    if not material.feedback:
        raise PermanentFailure("NO_FEEDBACK", "The student has received no feedback to summarise.")
    scores = summaries.criterion_scores(material)
    answer, usage = await ctx.llm.generate(
        PROMPT,
        {
            "comments": [f.comment for f in material.feedback],
            "scores": [{"criterion": s.criterion, "average": f"{s.average:.2f}"} for s in scores],
        },
        schema=FeedbackSummary,
    )
    generated_by = GeneratedBy.of(usage)
    await summaries.save_summary(
        ctx.session,
        material,
        content=answer,
        scores=scores,
        generated_by=generated_by,
        operation_id=ctx.operation_id,
    )
    return StudentSummaryResult(
        evaluation_id=params.evaluation_id,
        student_id=params.student_id,
        feedback_count=len(material.feedback),
        generated_by=generated_by,
    )
