"""Review cycles, invitations, reviews and summaries as clients see them."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

from backend.features.feedback.operations import OperationRef
from backend.features.feedback.provenance import GeneratedBy
from backend.features.reviews.models import Relationship
from backend.features.reviews.weighting import Weighting
from backend.llm.tasks import FeedbackSummary

RATING_MIN, RATING_MAX = 1, 5
TEXT_LIMIT = 5000


def _distinct_names(values: list[str], what: str) -> list[str]:
    names = [v.strip() for v in values]
    if any(not n or len(n) > 100 for n in names):
        raise ValueError(f"each {what} has 1 to 100 characters")
    if len({n.casefold() for n in names}) != len(names):
        raise ValueError(f"{what} names must be distinct")
    return names


class CycleCreate(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "person_id": "01936f0e-8f6b-7cc2-9b8e-2f4c1e7d5a10",
                    "title": "Sam Rivera, 2026 mid-year review",
                    "competencies": ["Communication", "Delivery", "Collaboration"],
                    "closes_at": "2026-12-31T17:00:00Z",
                }
            ]
        }
    )

    person_id: uuid.UUID = Field(description="The subject: a person of your tenant.")
    title: str = Field(min_length=1, max_length=200)
    competencies: list[str] = Field(
        min_length=1, max_length=20, description="What reviewers rate, 1 to 5 each."
    )
    closes_at: datetime | None = Field(
        default=None,
        description="When the cycle and its review links close (UTC if no offset). "
        "Default: 30 days from now (OPSAPI_FEEDBACK__CYCLE_DAYS).",
    )

    @field_validator("competencies")
    @classmethod
    def _distinct(cls, values: list[str]) -> list[str]:
        return _distinct_names(values, "competency")


class PersonRef(BaseModel):
    id: uuid.UUID
    name: str


class ReviewerStatus(enum.StrEnum):
    invited = "invited"
    submitted = "submitted"
    revoked = "revoked"


class ReviewerCreate(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"name": "Alex Kim", "relationship": "peer"}]}
    )

    name: str = Field(min_length=1, max_length=200, description="Shown only to the manager.")
    relationship: Relationship = Field(description="How the reviewer knows the subject.")


class ReviewerOut(BaseModel):
    id: uuid.UUID
    name: str
    relationship: Relationship
    status: ReviewerStatus
    created_at: datetime
    submitted_at: datetime | None = None
    revoked_at: datetime | None = None


class ReviewerInvited(ReviewerOut):
    token: str = Field(
        description="The invitation's secret. Shown only in this answer: it is stored hashed."
    )
    invitation_url: str = Field(description="The private link to send the reviewer.")
    expires_at: datetime = Field(description="The link closes with the cycle.")


class CycleLinks(BaseModel):
    self: str
    summary: str


class CycleOut(BaseModel):
    id: uuid.UUID
    person: PersonRef
    title: str
    competencies: list[str]
    closes_at: datetime
    open: bool = Field(description="True until closes_at: reviews can be submitted.")
    reviewers: list[ReviewerOut]
    reviews_submitted: int
    summary_operation: OperationRef | None = Field(
        description="The summary's newest generation unless it completed: pending or "
        "processing, or failed (its error says why)."
    )
    created_at: datetime
    links: CycleLinks


class RatingScale(BaseModel):
    min: int = RATING_MIN
    max: int = RATING_MAX
    labels: dict[int, str] = Field(
        default={1: "Far below expectations", 3: "Meets expectations", 5: "Far above"}
    )


class Questions(BaseModel):
    competencies: list[str] = Field(description="Rate each of these on the scale.")
    rating_scale: RatingScale
    strengths: str = Field(examples=["What does Sam do well?"])
    improvements: str = Field(examples=["What could Sam do better?"])


class InvitationOut(BaseModel):
    cycle_title: str
    subject: str = Field(description="The name of the person the review is about.")
    reviewer_name: str
    relationship: Relationship
    closes_at: datetime
    questions: Questions
    submitted_at: datetime | None = Field(
        description="Set once the review was submitted: it can be sent only once."
    )


class ReviewSubmit(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "ratings": {"Communication": 4, "Delivery": 3, "Collaboration": 5},
                    "strengths": "Explains complex designs clearly and helps everyone.",
                    "improvements": "Could share progress with the wider team more often.",
                }
            ]
        }
    )

    ratings: dict[str, int] = Field(
        description="Every competency of the cycle, rated 1 to 5 (422 INVALID_RATINGS otherwise)."
    )
    strengths: str = Field(min_length=1, max_length=TEXT_LIMIT)
    improvements: str = Field(min_length=1, max_length=TEXT_LIMIT)

    @field_validator("ratings")
    @classmethod
    def _on_the_scale(cls, ratings: dict[str, int]) -> dict[str, int]:
        if any(not RATING_MIN <= v <= RATING_MAX for v in ratings.values()):
            raise ValueError(f"ratings are whole numbers from {RATING_MIN} to {RATING_MAX}")
        return ratings

    @field_validator("strengths", "improvements")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value.strip()


class ReviewReceipt(BaseModel):
    id: uuid.UUID
    cycle_title: str
    submitted_at: datetime


class SummaryLinks(BaseModel):
    self: str
    cycle: str


class CycleSummaryOut(BaseModel):
    cycle_id: uuid.UUID
    content: FeedbackSummary
    weighting: Weighting
    review_count: int = Field(description="Reviews the summary is based on.")
    reviews_submitted: int = Field(description="Reviews submitted to the cycle so far.")
    stale: bool = Field(description="True when reviews were submitted after it was generated.")
    finalised: bool = Field(description="A finalised summary is never generated again.")
    finalised_at: datetime | None
    generated_by: GeneratedBy
    generated_at: datetime
    operation: OperationRef | None = Field(
        description="The newest generation unless it completed: pending or processing (it "
        "will cover the newer reviews), or failed (its error says why the summary is stale)."
    )
    links: SummaryLinks


SUMMARY_KIND = "review.summary"


class CycleSummaryParams(BaseModel):
    """Parameters of a `review.summary` operation."""

    cycle_id: uuid.UUID


class SkipReason(enum.StrEnum):
    finalised = "SUMMARY_FINALISED"
    not_enough_reviews = "NOT_ENOUGH_REVIEWS"


class CycleSummaryResult(BaseModel):
    """Result of a `review.summary` operation."""

    cycle_id: uuid.UUID
    applied: bool = Field(
        description="False when the summary was not replaced: see `skipped` for why."
    )
    skipped: SkipReason | None = Field(
        default=None,
        description="SUMMARY_FINALISED: the summary was finalised before or while this ran.",
    )
    review_count: int = Field(description="Reviews read at the start of the run.")
    generated_by: GeneratedBy | None = Field(
        default=None, description="Set when the model was asked (even if its answer was not kept)."
    )
