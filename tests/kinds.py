"""Operation kinds used only by the tests (the product ships no toy kinds).

Worker subprocesses load them with ``OPSAPI_HANDLER_MODULES='["tests.kinds"]'``.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections import Counter
from datetime import timedelta

from pydantic import BaseModel
from sqlalchemy import text

from backend.operations import service
from backend.operations.context import OperationContext
from backend.operations.exceptions import OperationFailure, RetryableFailure
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
    # Sleep only in these worker processes (None: in every one), so a test can stall
    # one worker and let another finish the same operation at once.
    slow_pids: list[int] | None = None
    # Attempts up to this one fail (retryable) after their insert, which must then
    # roll back with the failed attempt.
    fail_attempts: int = 0


async def record(ctx: OperationContext, params: RecordParams) -> dict[str, int]:
    """Records each run in test_runs through the completion session (exactly once)."""
    slow = params.slow_pids is None or os.getpid() in params.slow_pids
    if params.seconds and slow:
        await asyncio.sleep(params.seconds)
    await ctx.session.execute(
        text("INSERT INTO test_runs (operation_id, attempt, worker_pid) VALUES (:id, :a, :p)"),
        {"id": ctx.operation_id, "a": ctx.attempt, "p": os.getpid()},
    )
    if ctx.attempt <= params.fail_attempts:
        raise RetryableFailure("FLAKY", "The attempt failed after writing.")
    return {"pid": os.getpid(), "attempt": ctx.attempt}


class DeferParams(BaseModel):
    retry_after: float = 0.5
    times: int = 1


# Runs of test.defer per operation in this process: its deferrals give the attempt
# back, so the attempt number cannot tell a first run from a second.
DEFER_RUNS: Counter[uuid.UUID] = Counter()


async def defer(ctx: OperationContext, params: DeferParams) -> dict[str, int]:
    """Answers "come back later" ``times`` times, like a provider's 429, then succeeds."""
    DEFER_RUNS[ctx.operation_id] += 1
    runs = DEFER_RUNS[ctx.operation_id]
    if runs <= params.times:
        raise RetryableFailure(
            "RATE_LIMITED", "The provider is busy.", retry_after=params.retry_after
        )
    return {"runs": runs, "attempt": ctx.attempt}


class HoldParams(BaseModel):
    seconds: float = 60.0


# How each run of test.hold in this process ended, per operation: "finished", or
# "stopped" when the worker cancelled the handler.
HOLD_FATES: dict[uuid.UUID, str] = {}


async def hold(ctx: OperationContext, params: HoldParams) -> dict[str, str]:
    """Holds the operation for ``seconds`` and notes whether the worker stopped it."""
    try:
        await asyncio.sleep(params.seconds)
    except asyncio.CancelledError:
        HOLD_FATES[ctx.operation_id] = "stopped"
        raise
    HOLD_FATES[ctx.operation_id] = "finished"
    return {"held": "finished"}


async def hold_fate(op_id: uuid.UUID, timeout: float = 5.0) -> str:
    """Wait until the run of test.hold for ``op_id`` in this process has ended."""
    async with asyncio.timeout(timeout):
        while True:
            if op_id in HOLD_FATES:
                return HOLD_FATES[op_id]
            await asyncio.sleep(0.05)


async def stubborn(ctx: OperationContext, params: HoldParams) -> dict[str, str]:
    """A handler that swallows its first cancellation and goes on holding."""
    try:
        await asyncio.sleep(params.seconds)
    except asyncio.CancelledError:
        await asyncio.sleep(params.seconds)
    return {"held": "finished"}


class ChatterParams(BaseModel):
    chunks: list[str] = ["Hello", ", ", "world"]
    pause: float = 0.0


async def chatter(ctx: OperationContext, params: ChatterParams) -> dict[str, str]:
    """Streams its text as ``text.delta`` events, like a model generating, then returns it."""
    for chunk in params.chunks:
        if params.pause:
            await asyncio.sleep(params.pause)
        await ctx.emit("text.delta", {"text": chunk})
    return {"text": "".join(params.chunks)}


KEYED_RUNS_TABLE = """
CREATE TABLE IF NOT EXISTS test_keyed_runs (
    operation_id uuid NOT NULL,
    key text NOT NULL,
    processing_seen int NOT NULL,
    started_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    finished_at timestamptz
)
"""


class KeyedParams(BaseModel):
    key: str
    seconds: float = 0.1


async def keyed(ctx: OperationContext, params: KeyedParams) -> dict[str, int]:
    """Notes in test_keyed_runs when it ran and how many operations with its concurrency
    key were processing when it started (itself included), as the database saw it."""
    async with ctx.sessionmaker() as session:
        seen = await session.scalar(
            text(
                "SELECT count(*) FROM operations WHERE status = 'processing'"
                " AND tenant_id = :tenant AND concurrency_key = :key"
            ),
            {"tenant": ctx.tenant_id, "key": params.key},
        )
        await session.execute(
            text(
                "INSERT INTO test_keyed_runs (operation_id, key, processing_seen)"
                " VALUES (:id, :key, :seen)"
            ),
            {"id": ctx.operation_id, "key": params.key, "seen": seen},
        )
        await session.commit()
    await asyncio.sleep(params.seconds)
    async with ctx.sessionmaker() as session:
        await session.execute(
            text(
                "UPDATE test_keyed_runs SET finished_at = clock_timestamp()"
                " WHERE operation_id = :id"
            ),
            {"id": ctx.operation_id},
        )
        await session.commit()
    return {"seen": int(seen or 0)}


class ChainParams(BaseModel):
    child_kind: str = "test.echo"
    child_delay: float = 0.0
    fail_after_child: bool = False
    # Name of a ChainGate the handler waits at before creating its child.
    gate: str | None = None


class ChainGate:
    """Lets a test hold a chain handler just before it creates its child."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.open = asyncio.Event()
        self.child_created = asyncio.Event()


CHAIN_GATES: dict[str, ChainGate] = {}


async def chain(ctx: OperationContext, params: ChainParams) -> dict[str, str]:
    """Creates the next operation of a chain in the transaction completing this one."""
    gate = CHAIN_GATES.get(params.gate) if params.gate else None
    if gate is not None:
        gate.started.set()
        await gate.open.wait()
    delay = timedelta(seconds=params.child_delay) if params.child_delay else None
    child = await service.create_child_operation(ctx, params.child_kind, {}, delay=delay)
    if gate is not None:
        gate.child_created.set()
    if params.fail_after_child:
        raise OperationFailure("BOOM", "Failed after creating the child.")
    return {"child": str(child.id)}


def register(registry: Registry) -> None:
    registry.register("test.echo", echo, params=EchoParams, result=EchoResult)
    registry.register("test.sleep", sleep, params=SleepParams, timeout=30)
    registry.register(
        "test.fail", fail, params=FailParams, max_attempts=3, backoff_base=0.05, backoff_max=0.2
    )
    # The same failures with a backoff long enough to observe the pending state.
    registry.register(
        "test.backoff", fail, params=FailParams, max_attempts=3, backoff_base=1.0, backoff_max=1.0
    )
    registry.register(
        "test.record",
        record,
        params=RecordParams,
        max_attempts=5,
        backoff_base=0.05,
        backoff_max=0.2,
    )
    registry.register("test.defer", defer, params=DeferParams, max_attempts=1)
    registry.register("test.hold", hold, params=HoldParams, timeout=120)
    registry.register("test.stubborn", stubborn, params=HoldParams, timeout=0.5, max_attempts=1)
    registry.register(
        "test.slow",
        sleep,
        params=SleepParams,
        timeout=0.5,
        max_attempts=2,
        backoff_base=0.05,
        backoff_max=0.1,
    )
    registry.register("test.chatter", chatter, params=ChatterParams, timeout=30)
    registry.register("test.keyed", keyed, params=KeyedParams, concurrency_limit=2, timeout=30)
    # Another kind sharing test.keyed's keys, for workers that run only one of the two.
    registry.register("test.keyed_too", keyed, params=KeyedParams, concurrency_limit=2, timeout=30)
    registry.register("test.chain", chain, params=ChainParams, max_attempts=1)
    registry.register("test.brief", echo, params=EchoParams, retention=timedelta(hours=1))
