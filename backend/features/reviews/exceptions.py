"""Errors of review cycles, invitations and summaries, each with a stable code."""

from __future__ import annotations

from backend.errors import AppError, Conflict, NotFound
from backend.features.feedback.marks import MarksMismatch
from backend.features.feedback.operations import generation_note
from backend.operations.models import Operation


class Gone(AppError):
    status = 410
    code = "GONE"
    title = "Gone"


class CycleNotFound(NotFound):
    code = "CYCLE_NOT_FOUND"
    title = "Review cycle not found"

    def __init__(self) -> None:
        super().__init__("No review cycle with this id exists for you in your tenant.")


class ReviewerNotFound(NotFound):
    code = "REVIEWER_NOT_FOUND"
    title = "Reviewer not found"

    def __init__(self) -> None:
        super().__init__("This cycle has no reviewer with this id.")


class InvalidClosesAt(AppError):
    status = 422
    code = "INVALID_CLOSES_AT"
    title = "Invalid closing time"

    def __init__(self) -> None:
        super().__init__("closes_at must be in the future: a cycle closes after it opens.")


class CycleClosed(Conflict):
    code = "CYCLE_CLOSED"
    title = "Review cycle closed"

    def __init__(self) -> None:
        super().__init__("This cycle has closed: no more reviewers can be invited to it.")


class InvitationNotFound(NotFound):
    code = "INVITATION_NOT_FOUND"
    title = "Invitation not found"

    def __init__(self) -> None:
        super().__init__(
            "This review link is not valid. Check that you copied all of it, or ask the "
            "person who invited you for a new one."
        )


class InvitationRevoked(Gone):
    code = "INVITATION_REVOKED"
    title = "Invitation withdrawn"

    def __init__(self) -> None:
        super().__init__("This review link was withdrawn by the person who sent it.")


class InvitationExpired(Gone):
    code = "INVITATION_EXPIRED"
    title = "Invitation expired"

    def __init__(self) -> None:
        super().__init__("This review cycle has closed, and its review links with it.")


class ReviewAlreadySubmitted(Conflict):
    code = "REVIEW_ALREADY_SUBMITTED"
    title = "Review already submitted"

    def __init__(self) -> None:
        super().__init__("A review was already submitted with this link; it can be sent once.")


class InvalidRatings(MarksMismatch):
    code = "INVALID_RATINGS"
    title = "Invalid ratings"
    subject = "Ratings must"
    every = "rate every competency"
    only = "rate only the cycle's competencies"


class NotEnoughReviews(AppError):
    status = 422
    code = "NOT_ENOUGH_REVIEWS"
    title = "Not enough reviews"

    def __init__(self, submitted: int) -> None:
        super().__init__(
            f"A summary needs at least two reviews; {submitted} submitted so far.",
            extra={"reviews_submitted": submitted},
        )


class SummaryFinalised(Conflict):
    code = "SUMMARY_FINALISED"
    title = "Summary finalised"

    def __init__(self) -> None:
        super().__init__(
            "The summary is finalised and is not generated again. Reopen it first "
            "(POST …/summary/reopen)."
        )


class SummaryNotFound(NotFound):
    code = "SUMMARY_NOT_FOUND"
    title = "No summary yet"

    def __init__(self, operation: Operation | None = None) -> None:
        note, extra = generation_note(operation)
        super().__init__(
            "This cycle has no summary yet: one is generated from the second review on." + note,
            extra=extra,
        )
