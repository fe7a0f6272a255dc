"""Errors of evaluations, their students, feedback and summaries."""

from __future__ import annotations

from backend.errors import AppError, Conflict, NotFound
from backend.features.feedback.marks import MarksMismatch
from backend.features.feedback.operations import generation_note
from backend.operations.models import Operation


class EvaluationNotFound(NotFound):
    code = "EVALUATION_NOT_FOUND"
    title = "Evaluation not found"

    def __init__(self) -> None:
        super().__init__("No evaluation with this id exists in your tenant.")


class StudentNotFound(NotFound):
    code = "STUDENT_NOT_FOUND"
    title = "Student not found"

    def __init__(self) -> None:
        super().__init__("This evaluation has no student with this id that you may see.")


class StudentExists(Conflict):
    code = "STUDENT_EXISTS"
    title = "Already a student"

    def __init__(self) -> None:
        super().__init__("This person is already a student of the evaluation.")


class TooManyStudents(AppError):
    status = 422
    code = "TOO_MANY_STUDENTS"
    title = "Too many students"

    def __init__(self, limit: int) -> None:
        super().__init__(f"An evaluation has at most {limit} students.")


class FeedbackAlreadyGiven(Conflict):
    code = "FEEDBACK_ALREADY_GIVEN"
    title = "Feedback already given"

    def __init__(self) -> None:
        super().__init__("This student has already given feedback to this peer; once per peer.")


class SelfFeedback(AppError):
    status = 422
    code = "SELF_FEEDBACK"
    title = "Feedback to oneself"

    def __init__(self) -> None:
        super().__init__("Peer feedback goes from one student to another: from and to differ.")


class InvalidScores(MarksMismatch):
    code = "INVALID_SCORES"
    title = "Invalid scores"
    subject = "Scores must"
    every = "score every criterion"
    only = "score only the evaluation's criteria"


class NoFeedback(AppError):
    status = 422
    code = "NO_FEEDBACK"
    title = "No feedback yet"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)


class SummaryNotFound(NotFound):
    code = "SUMMARY_NOT_FOUND"
    title = "No summary yet"

    def __init__(self, operation: Operation | None = None) -> None:
        note, extra = generation_note(operation)
        super().__init__(
            "This student has no summary yet: queue one with POST …/summary/generate." + note,
            extra=extra,
        )
