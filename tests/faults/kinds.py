"""An operation kind for the crash tests: it asks the model about its marker and makes
its effect through the completion session, so the test can count runs and effects.

Worker subprocesses load it with ``OPSAPI_HANDLER_MODULES='["tests.faults.kinds"]'``.
"""

from __future__ import annotations

import os

from pydantic import BaseModel
from sqlalchemy import text

from backend.llm.tasks import FeedbackSummary
from backend.operations.context import OperationContext
from backend.operations.registry import Registry

KIND = "fault.marker_summary"

# Every start of an attempt, committed at once (a killed run leaves its row), and
# every effect, written in the completion transaction (a killed run leaves none).
TABLES = (
    """
    CREATE TABLE IF NOT EXISTS fault_starts (
        operation_id uuid NOT NULL, attempt int NOT NULL, worker_pid int NOT NULL
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS fault_effects (
        operation_id uuid NOT NULL, attempt int NOT NULL, worker_pid int NOT NULL
    )
    """,
)


class MarkerParams(BaseModel):
    marker: str


class MarkerSummary(BaseModel):
    marker: str
    summary: str


def summary_of(marker: str) -> str:
    """What the fake model answers about ``marker`` (see the crash test's responder)."""
    return f"Summary of {marker}."


async def marker_summary(ctx: OperationContext, params: MarkerParams) -> MarkerSummary:
    row = {"id": ctx.operation_id, "attempt": ctx.attempt, "pid": os.getpid()}
    async with ctx.sessionmaker() as session:
        await session.execute(
            text("INSERT INTO fault_starts VALUES (:id, :attempt, :pid)"),
            row,
        )
        await session.commit()
    answer, _usage = await ctx.llm.generate(
        "review_summary", {"reviews": [params.marker]}, schema=FeedbackSummary
    )
    await ctx.session.execute(text("INSERT INTO fault_effects VALUES (:id, :attempt, :pid)"), row)
    return MarkerSummary(marker=params.marker, summary=answer.summary)


def register(registry: Registry) -> None:
    # Attempts to spare: one operation may be caught by more than one kill.
    registry.register(
        KIND, marker_summary, params=MarkerParams, result=MarkerSummary, max_attempts=10
    )
