"""Marks per name (a cycle's ratings per competency, an evaluation's scores per
criterion): they must cover exactly the expected names."""

from __future__ import annotations

from typing import ClassVar

from backend.errors import AppError


class MarksMismatch(AppError):
    """422 naming the expected names left out and the unknown names given. Subclasses
    set the code and title and how the message speaks of the marks."""

    status = 422
    # e.g. "Ratings must", "rate every competency", "rate only the cycle's competencies"
    subject: ClassVar[str]
    every: ClassVar[str]
    only: ClassVar[str]

    def __init__(self, missing: list[str], unknown: list[str]) -> None:
        problems = []
        if missing:
            problems.append(f"{self.every} (missing: {', '.join(missing)})")
        if unknown:
            problems.append(f"{self.only} (unknown: {', '.join(unknown)})")
        super().__init__(
            f"{self.subject} " + " and ".join(problems) + ".",
            extra={"missing": missing, "unknown": unknown},
        )


def check_marks(expected: list[str], given: dict[str, int], error: type[MarksMismatch]) -> None:
    """Raise ``error`` unless ``given`` marks exactly the ``expected`` names."""
    missing = [name for name in expected if name not in given]
    unknown = sorted(set(given) - set(expected))
    if missing or unknown:
        raise error(missing, unknown)
