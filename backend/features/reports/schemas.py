"""Reports as clients see them, the model's part of them, and the generation's
parameters and result."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from backend.features.feedback.provenance import GeneratedBy
from backend.features.reports.periods import Period, PeriodKind
from backend.operations.states import Status

GENERATE_KIND = "report.generate"


class ReportNarrative(BaseModel):
    """``person_report``: the only part of a report the model writes."""

    headline: str = Field(description="One line on the period.")
    summary: str = Field(description="What the period showed, 2 to 4 sentences.")
    highlights: list[str] = Field(max_length=5, description="What went well.")
    themes: list[str] = Field(max_length=6, description="Short labels of recurring topics.")
    next_steps: list[str] = Field(max_length=5, description="Concrete suggestions to act on.")


class Trend(StrEnum):
    up = "up"
    down = "down"
    steady = "steady"
    new = "new"


class Measure(BaseModel):
    average: float | None = Field(
        description="Mean over the period, rounded half up to 2 decimals; null without data."
    )
    count: int = Field(description="Values the average is over.")
    previous_average: float | None = Field(description="The same over the period before.")
    change: float | None = Field(
        description="average − previous_average, from the exact means, rounded half up to 2 "
        "decimals; null unless both exist."
    )
    trend: Trend | None = Field(
        description="up, down or steady against the period before; new when the period "
        "before had no data; null when this period has none."
    )


class CompetencyFigure(Measure):
    competency: str = Field(examples=["Communication"])


class Counts(BaseModel):
    reviews: int = Field(description="Reviews received (self-reviews are not counted).")
    evaluation_feedback: int = Field(description="Peer feedback received in evaluations.")
    interview_sessions: int = Field(
        description="Practice interviews completed, with feedback, by the person's principals."
    )

    @property
    def total(self) -> int:
        return self.reviews + self.evaluation_feedback + self.interview_sessions


class Figures(BaseModel):
    """Computed from the data, never by the model."""

    counts: Counts
    previous_counts: Counts
    overall_rating: Measure = Field(
        description="All ratings received (reviews and evaluations, 1 to 5) together."
    )
    competencies: list[CompetencyFigure] = Field(
        description="Ratings per competency or criterion (1 to 5), by name."
    )
    interview_score: Measure = Field(description="Interview feedback's overall score (0 to 100).")


class Sources(BaseModel):
    """What a report was built from; equal sources mean an equal report."""

    counts: Counts
    previous_counts: Counts
    latest_at: datetime | None = Field(
        description="When the newest review, peer feedback or interview feedback of the two "
        "periods was written."
    )


class PeriodOut(BaseModel):
    key: str = Field(examples=["2026-Q3"])
    kind: PeriodKind
    start: date = Field(description="First day (UTC).")
    end: date = Field(description="Last day (UTC), included.")

    @classmethod
    def of(cls, period: Period) -> PeriodOut:
        return cls(key=period.key, kind=period.kind, start=period.start, end=period.last_day)


class ReportDocument(BaseModel):
    """The stored part of a report: written once per generation."""

    person_id: uuid.UUID
    period: PeriodOut
    previous_period: PeriodOut
    narrative: ReportNarrative | None = Field(
        description="Written by the model; null when the period has no data to narrate."
    )
    figures: Figures
    sources: Sources
    generated_by: GeneratedBy | None = Field(description="Null when no model was asked.")
    generated_at: datetime


class RefreshOperation(BaseModel):
    """The newest refresh of the report, unless it completed."""

    id: uuid.UUID
    status: Status = Field(
        description="pending or processing: the refresh runs; failed or cancelled: the "
        "report shown is the older one, and error says why."
    )
    error: dict[str, object] | None = None
    url: str = Field(description="GET it, /wait on it, or stream its /events.")


class ReportOut(ReportDocument):
    refreshed_at: datetime = Field(
        description="When the report was last generated or found up to date."
    )
    age_seconds: int = Field(description="Seconds since refreshed_at.")
    fresh: bool = Field(description="Younger than the configured time to live.")
    refreshing: bool = Field(description="A refresh is pending or running.")
    refresh_allowed: bool = Field(
        description="Whether this caller may start a refresh (false for read-only keys)."
    )
    refresh_operation: RefreshOperation | None


class GenerateParams(BaseModel):
    person_id: uuid.UUID
    period: str
    start: date
    end: date = Field(description="The day after the last.")
    kind: PeriodKind

    def to_period(self) -> Period:
        return Period(self.kind, self.start, self.end)


class GenerateResult(BaseModel):
    person_id: uuid.UUID
    period: str
    regenerated: bool = Field(
        description="false: the inputs had not changed, the report was marked fresh again."
    )
    model_called: bool
    counts: Counts
