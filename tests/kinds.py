"""Operation kinds used only by the tests (the product ships no toy kinds).

Worker subprocesses load them with ``OPSAPI_HANDLER_MODULES='["tests.kinds"]'``.
"""

from __future__ import annotations

import asyncio
import os

from pydantic import BaseModel
from sqlalchemy import text

from backend.operations.context import OperationContext
from backend.operations.exceptions import OperationFailure
from backend.operations.registry import Registry

RUNS_TABLE = """
CREATE TABLE IF NOT EXISTS test_runs (
    operation_id uuid NOT NULL,
    attempt int NOT NULL,
    worker_pid int NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now()
)
"""


class EchoParams(BaseModel):
    value: str = "hello"


class EchoResult(BaseModel):
    echo: str


async def echo(ctx: OperationContext, params: EchoParams) -> EchoResult:
    return EchoResult(echo=params.value)


class SleepParams(BaseModel):
    seconds: float = 1.0
    steps: int = 1


async def sleep(ctx: OperationContext, params: SleepParams) -> dict[str, float]:
    for step in range(params.steps):
        await asyncio.sleep(params.seconds / params.steps)
        await ctx.progress(percent=100 * (step + 1) / params.steps, stage="sleeping")
    return {"slept": params.seconds}


class FailParams(BaseModel):
    code: str = "BOOM"
    message: str = "It failed."
    retryable: bool = False
    fail_times: int = 1_000
    retry_after: float | None = None
    unexpected: bool = False


async def fail(ctx: OperationContext, params: FailParams) -> dict[str, int]:
    if ctx.attempt <= params.fail_times:
        if params.unexpected:
            raise RuntimeError("secret internal detail that must not leak")
        raise OperationFailure(
            params.code,
            params.message,
            retryable=params.retryable,
            retry_after=params.retry_after,
        )
    return {"succeeded_on_attempt": ctx.attempt}


class RecordParams(BaseModel):
    seconds: float = 0.0


async def record(ctx: OperationContext, params: RecordParams) -> dict[str, int]:
    """Records each run in test_runs through the completion session (exactly once)."""
    if params.seconds:
        await asyncio.sleep(params.seconds)
    await ctx.session.execute(
        text("INSERT INTO test_runs (operation_id, attempt, worker_pid) VALUES (:id, :a, :p)"),
        {"id": ctx.operation_id, "a": ctx.attempt, "p": os.getpid()},
    )
    return {"pid": os.getpid()}


def register(registry: Registry) -> None:
    registry.register("test.echo", echo, params=EchoParams, result=EchoResult)
    registry.register("test.sleep", sleep, params=SleepParams, timeout=30)
    registry.register(
        "test.fail", fail, params=FailParams, max_attempts=3, backoff_base=0.05, backoff_max=0.2
    )
    registry.register("test.record", record, params=RecordParams, max_attempts=5)
    registry.register(
        "test.slow", sleep, params=SleepParams, timeout=0.5, max_attempts=2, backoff_base=0.05,
        backoff_max=0.1,
    )
