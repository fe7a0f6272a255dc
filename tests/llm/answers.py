"""Answers and inputs the LLM tests share."""

from __future__ import annotations

from typing import Any

REVIEWS = [
    "Sam explains complex designs clearly and is always helpful in code reviews. "
    "Sam could share progress with the wider team more often.",
    "Sam is a reliable teammate with thorough code reviews. Deadlines sometimes slip "
    "when Sam takes on too much.",
]

SUMMARY: dict[str, Any] = {
    "summary": "Sam is a clear, helpful reviewer who could share progress more often.",
    "strengths": ["Clear explanations", "Thorough code reviews"],
    "improvements": ["Share progress more often"],
    "themes": ["code reviews", "communication"],
    "sentiment": "positive",
}

VARIABLES: dict[str, Any] = {"reviews": REVIEWS}
