"""The operation kinds of the feedback features."""

from __future__ import annotations

from backend.features.evaluations import handlers as evaluation_handlers
from backend.features.evaluations.schemas import StudentSummaryParams, StudentSummaryResult
from backend.features.reviews import handlers as review_handlers
from backend.features.reviews.schemas import CycleSummaryParams, CycleSummaryResult
from backend.operations.registry import Registry

# A model call takes seconds; a slow provider is cut off by its own timeout first.
SUMMARY_TIMEOUT = 300.0


def register_feedback(registry: Registry) -> None:
    """`review.summary` (a cycle's summary, coalesced per cycle) and
    `evaluation.summary` (a student's summary, deduplicated per student)."""
    registry.register(
        "review.summary",
        review_handlers.summarise_cycle,
        params=CycleSummaryParams,
        result=CycleSummaryResult,
        timeout=SUMMARY_TIMEOUT,
        max_attempts=3,
        poll_after=2,
    )
    registry.register(
        "evaluation.summary",
        evaluation_handlers.summarise_student,
        params=StudentSummaryParams,
        result=StudentSummaryResult,
        timeout=SUMMARY_TIMEOUT,
        max_attempts=3,
        poll_after=2,
    )
