"""The figures of a report, computed exactly from what the person received: counts,
average ratings per competency, the interview score, and the trend against the
period before. Means are exact fractions until the one rounding at the end."""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from fractions import Fraction

from backend.features.reports.schemas import (
    CompetencyFigure,
    Counts,
    Figures,
    Measure,
    Sources,
    Trend,
)


@dataclass(frozen=True)
class ReceivedReview:
    id: uuid.UUID
    at: datetime
    ratings: dict[str, int]
    strengths: str
    improvements: str


@dataclass(frozen=True)
class ReceivedPeerFeedback:
    id: uuid.UUID
    at: datetime
    scores: dict[str, int]
    comment: str


@dataclass(frozen=True)
class InterviewResult:
    session_id: uuid.UUID
    # The session's completion places it in a period; the feedback's writing is its
    # source timestamp.
    at: datetime
    written_at: datetime
    topic: str
    overall_score: int
    summary: str
    strengths: list[str]
    areas_to_improve: list[str]


@dataclass(frozen=True)
class Received:
    """Everything a person received in one period."""

    reviews: list[ReceivedReview] = field(default_factory=list)
    peer_feedback: list[ReceivedPeerFeedback] = field(default_factory=list)
    interviews: list[InterviewResult] = field(default_factory=list)

    @property
    def counts(self) -> Counts:
        return Counts(
            reviews=len(self.reviews),
            evaluation_feedback=len(self.peer_feedback),
            interview_sessions=len(self.interviews),
        )

    def ratings(self) -> Iterable[tuple[str, int]]:
        for review in self.reviews:
            yield from review.ratings.items()
        for feedback in self.peer_feedback:
            yield from feedback.scores.items()

    def written(self) -> Iterable[datetime]:
        yield from (r.at for r in self.reviews)
        yield from (f.at for f in self.peer_feedback)
        yield from (i.written_at for i in self.interviews)


@dataclass(frozen=True)
class Material:
    """The period's and the previous period's material, read at a run's start."""

    person_name: str
    current: Received
    previous: Received

    @property
    def sources(self) -> Sources:
        latest = max([*self.current.written(), *self.previous.written()], default=None)
        return Sources(
            counts=self.current.counts, previous_counts=self.previous.counts, latest_at=latest
        )


def rounded(value: Fraction) -> float:
    """Half away from zero to 2 decimals (3.665 → 3.67), as people round."""
    hundredths = math.floor(abs(value) * 100 + Fraction(1, 2))
    return math.copysign(hundredths / 100, value) if hundredths else 0.0


def mean(values: list[int]) -> Fraction | None:
    return Fraction(sum(values), len(values)) if values else None


def measure(current: list[int], previous: list[int]) -> Measure:
    now, before = mean(current), mean(previous)
    change = None if now is None or before is None else now - before
    if now is None:
        trend = None
    elif before is None:
        trend = Trend.new
    else:
        trend = Trend.up if now > before else Trend.down if now < before else Trend.steady
    return Measure(
        average=None if now is None else rounded(now),
        count=len(current),
        previous_average=None if before is None else rounded(before),
        change=None if change is None else rounded(change),
        trend=trend,
    )


def _by_competency(received: Received) -> dict[str, list[int]]:
    found: dict[str, list[int]] = {}
    for competency, value in received.ratings():
        found.setdefault(competency, []).append(value)
    return found


def compute(material: Material) -> Figures:
    now, before = material.current, material.previous
    current, previous = _by_competency(now), _by_competency(before)
    competencies = [
        CompetencyFigure(
            competency=name, **measure(current.get(name, []), previous.get(name, [])).model_dump()
        )
        for name in sorted(current.keys() | previous.keys())
    ]
    return Figures(
        counts=now.counts,
        previous_counts=before.counts,
        overall_rating=measure([v for _, v in now.ratings()], [v for _, v in before.ratings()]),
        competencies=competencies,
        interview_score=measure(
            [i.overall_score for i in now.interviews], [i.overall_score for i in before.interviews]
        ),
    )
