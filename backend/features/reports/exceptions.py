"""Errors of reports, each with a stable code."""

from __future__ import annotations

from backend.errors import AppError, NotFound


class InvalidPeriod(AppError):
    status = 422
    code = "INVALID_PERIOD"
    title = "Invalid period"

    def __init__(self, text: str) -> None:
        super().__init__(
            f"{text[:40]!r} is not a period. Use a month (2026-10), a quarter (2026-Q3), or "
            "custom with from and to (2026-10-01)."
        )


class PeriodRangeRequired(AppError):
    status = 422
    code = "PERIOD_RANGE_REQUIRED"
    title = "Custom period without its range"

    def __init__(self) -> None:
        super().__init__(
            "A custom period needs both from and to (days, e.g. ?from=2026-10-01&to=2026-10-15)."
        )


class PeriodRangeNotAllowed(AppError):
    status = 422
    code = "PERIOD_RANGE_NOT_ALLOWED"
    title = "Range given with a named period"

    def __init__(self) -> None:
        super().__init__(
            "from and to go with the period custom only: a month or a quarter has its own days."
        )


class PeriodRangeInverted(AppError):
    status = 422
    code = "PERIOD_RANGE_INVERTED"
    title = "Period ends before it starts"

    def __init__(self) -> None:
        super().__init__("from must be on or before to.")


class PeriodTooLong(AppError):
    status = 422
    code = "PERIOD_TOO_LONG"
    title = "Period too long"

    def __init__(self, max_days: int) -> None:
        super().__init__(f"A custom period covers at most {max_days} days.")


class PeriodInFuture(AppError):
    status = 422
    code = "PERIOD_IN_FUTURE"
    title = "Period has not begun"

    def __init__(self, key: str) -> None:
        super().__init__(f"The period {key} has not begun yet: there is nothing to report.")


class ReportNotGenerated(NotFound):
    code = "REPORT_NOT_GENERATED"
    title = "Report not generated"

    def __init__(self) -> None:
        super().__init__(
            "No report has been generated for this person and period yet, and this API key "
            "is read-only: it can read reports but not start one. Ask someone with a member "
            "or admin key to request it."
        )


class PersonNotVisible(NotFound):
    code = "PERSON_NOT_FOUND"
    title = "Person not found"

    def __init__(self) -> None:
        super().__init__(
            "No person with this id exists for you in your tenant. Members read the reports "
            "of the person their key acts as; admins and viewers those of everyone."
        )
