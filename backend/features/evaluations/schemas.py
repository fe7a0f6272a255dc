"""Evaluations, students, peer feedback and summaries as clients see them."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

from backend.features.feedback.operations import OperationRef
from backend.features.feedback.provenance import GeneratedBy
from backend.llm.tasks import FeedbackSummary
from backend.operations.schemas import BatchOut

SCORE_MIN, SCORE_MAX = 1, 5
SUMMARY_KIND = "evaluation.summary"


class EvaluationCreate(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"title": "Team project, spring term", "criteria": ["Teamwork", "Reliability"]}
            ]
        }
    )

    title: str = Field(min_length=1, max_length=200)
    criteria: list[str] = Field(
        min_length=1, max_length=20, description="What peers score, 1 to 5 each."
    )

    @field_validator("criteria")
    @classmethod
    def _distinct(cls, values: list[str]) -> list[str]:
        names = [v.strip() for v in values]
        if any(not n or len(n) > 100 for n in names):
            raise ValueError("each criterion has 1 to 100 characters")
        if len({n.casefold() for n in names}) != len(names):
            raise ValueError("criteria must be distinct")
        return names


class StudentAdd(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"person_id": "01936f0e-8f6b-7cc2-9b8e-2f4c1e7d5a10"}]}
    )

    person_id: uuid.UUID = Field(description="A person of your tenant (POST /api/v1/people).")


class StudentOut(BaseModel):
    id: uuid.UUID = Field(description="The student's id in this evaluation (`student_id`).")
    person_id: uuid.UUID
    name: str
    feedback_received: int
    created_at: datetime


class EvaluationLinks(BaseModel):
    self: str
    operations: str = Field(description="The evaluation's summary operations.")


class EvaluationOut(BaseModel):
    id: uuid.UUID
    title: str
    criteria: list[str]
    students: list[StudentOut]
    created_at: datetime
    links: EvaluationLinks


class FeedbackCreate(BaseModel):
    model_config = ConfigDict(
        populate_by_name=True,
        json_schema_extra={
            "examples": [
                {
                    "from": "01936f0e-8f6b-7cc2-9b8e-2f4c1e7d5a10",
                    "to": "01936f0e-9a11-7d03-8c2e-5b6a7c8d9e0f",
                    "scores": {"Teamwork": 4, "Reliability": 5},
                    "comment": "Always came prepared and helped others finish their part.",
                }
            ]
        },
    )

    from_student: uuid.UUID = Field(alias="from", description="The student giving feedback.")
    to_student: uuid.UUID = Field(alias="to", description="The peer it is about.")
    scores: dict[str, int] = Field(
        description="Every criterion, scored 1 to 5 (422 INVALID_SCORES otherwise)."
    )
    comment: str = Field(min_length=1, max_length=5000)

    @field_validator("scores")
    @classmethod
    def _on_the_scale(cls, scores: dict[str, int]) -> dict[str, int]:
        if any(not SCORE_MIN <= v <= SCORE_MAX for v in scores.values()):
            raise ValueError(f"scores are whole numbers from {SCORE_MIN} to {SCORE_MAX}")
        return scores

    @field_validator("comment")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value.strip()


class FeedbackOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    id: uuid.UUID
    from_student: uuid.UUID = Field(alias="from")
    to_student: uuid.UUID = Field(alias="to")
    scores: dict[str, int]
    comment: str
    created_at: datetime


class CriterionScore(BaseModel):
    criterion: str
    average: float = Field(description="1 to 5, over the feedback the summary is based on.")


class StudentRef(BaseModel):
    id: uuid.UUID = Field(description="The student's id in the evaluation.")
    person_id: uuid.UUID
    name: str


class SummaryLinks(BaseModel):
    self: str
    quotes: str
    evaluation: str


class StudentSummaryOut(BaseModel):
    evaluation_id: uuid.UUID
    student: StudentRef
    content: FeedbackSummary
    scores: list[CriterionScore]
    feedback_count: int = Field(description="Feedback the summary is based on.")
    feedback_received: int = Field(description="Feedback the student has received so far.")
    stale: bool = Field(description="True when feedback arrived after it was generated.")
    generated_by: GeneratedBy
    generated_at: datetime
    operation: OperationRef | None = Field(
        description="The newest generation of this summary unless it completed: pending or "
        "processing, or failed (its error says why the summary is stale)."
    )
    links: SummaryLinks


class Quote(BaseModel):
    text: str = Field(description="A peer's comment, with the names of classmates removed.")


class QuotesOut(BaseModel):
    student_id: uuid.UUID
    quotes: list[Quote] = Field(
        description="The comments the summary is based on, without who wrote them, in an "
        "order that does not follow when they were written."
    )


class QueuedSummary(BaseModel):
    student_id: uuid.UUID
    operation_id: uuid.UUID
    queued: bool = Field(
        description="False when the student's summary was already being generated: "
        "operation_id is that operation."
    )


class EvaluationSummariesOut(BaseModel):
    batch: BatchOut | None = Field(
        description="The operations queued by this request; null when every student with "
        "feedback already had a generation under way."
    )
    operations: list[QueuedSummary] = Field(description="One per student with feedback.")
    without_feedback: list[StudentRef] = Field(
        description="Students who received no feedback yet: nothing was queued for them."
    )


class StudentSummaryParams(BaseModel):
    """Parameters of an `evaluation.summary` operation."""

    evaluation_id: uuid.UUID
    student_id: uuid.UUID


class StudentSummaryResult(BaseModel):
    """Result of an `evaluation.summary` operation."""

    evaluation_id: uuid.UUID
    student_id: uuid.UUID
    feedback_count: int = Field(description="Feedback read at the start of the run.")
    generated_by: GeneratedBy
