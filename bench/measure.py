"""The measurements: enqueue rate, create latency, worker throughput, pickup latency.

Operations are created the way features create them, through
``service.create_operation`` in the caller's transaction. The worker runs as a
separate ``opsapi worker`` process, as in production; the bench only watches the
database.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from backend.operations import service
from backend.operations.registry import Registry
from bench import database
from bench.kinds import NOOP

ROOT = Path(__file__).resolve().parent.parent
POLL_SECONDS = 0.1
STOP_SECONDS = 30.0


@dataclass(frozen=True)
class Target:
    """Where operations are created: the database and the tenant that owns them."""

    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    registry: Registry
    tenant_id: uuid.UUID
    url: str


async def create_one(session: AsyncSession, target: Target) -> uuid.UUID:
    """Add one no-op operation to the session's transaction."""
    op = await service.create_operation(
        session,
        target.registry,
        tenant_id=target.tenant_id,
        principal_id=None,
        kind=NOOP,
        params={},
    )
    return op.id


@dataclass(frozen=True)
class Enqueued:
    count: int
    batch_size: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.count / self.seconds


async def enqueue(target: Target, n: int, batch_size: int) -> Enqueued:
    """Create ``n`` operations in transactions of ``batch_size``; time the whole."""
    started = time.perf_counter()
    remaining = n
    while remaining > 0:
        size = min(batch_size, remaining)
        async with target.sessionmaker() as session:
            for _ in range(size):
                await create_one(session, target)
            await session.commit()
        remaining -= size
    return Enqueued(count=n, batch_size=batch_size, seconds=time.perf_counter() - started)


async def create_latencies(target: Target, samples: int) -> list[float]:
    """Seconds per one-operation transaction, from session open to commit answered."""
    latencies: list[float] = []
    for _ in range(samples):
        started = time.perf_counter()
        async with target.sessionmaker() as session:
            await create_one(session, target)
            await session.commit()
        latencies.append(time.perf_counter() - started)
    return latencies


# -- the worker process -------------------------------------------------------------


def worker_command(concurrency: int, cprofile: Path | None = None) -> list[str]:
    """The command line of one worker process running only the no-op kind."""
    profile = ["--cprofile", str(cprofile)] if cprofile is not None else []
    return [
        sys.executable,
        "-m",
        "bench.worker",
        *profile,
        "worker",
        "--concurrency",
        str(concurrency),
        "--kinds",
        NOOP,
    ]


def _open_log(path: Path) -> IO[bytes]:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.open("wb")


@contextlib.asynccontextmanager
async def worker_process(
    url: str, concurrency: int, log_path: Path, cprofile: Path | None = None
) -> AsyncIterator[asyncio.subprocess.Process]:
    """Run one worker process for the block; stop it with SIGTERM (graceful) after."""
    env = {
        "OPSAPI_DATABASE_URL": url,
        "OPSAPI_HANDLER_MODULES": '["bench.kinds"]',
    }
    async with child_process(worker_command(concurrency, cprofile), env, log_path) as proc:
        yield proc


@contextlib.asynccontextmanager
async def child_process(
    command: list[str], env: dict[str, str], log_path: Path
) -> AsyncIterator[asyncio.subprocess.Process]:
    """Run ``command`` (with ``env`` added) for the block, its output to ``log_path``;
    stop it with SIGTERM (graceful) after."""
    with _open_log(log_path) as log:
        proc = await asyncio.create_subprocess_exec(
            *command, env={**os.environ, **env}, cwd=ROOT, stdout=log, stderr=log
        )
        try:
            yield proc
        finally:
            await stop_worker(proc)


async def stop_worker(proc: asyncio.subprocess.Process) -> None:
    """SIGTERM, then wait for the graceful shutdown; kill only if it never comes."""
    if proc.returncode is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(proc.wait(), timeout=STOP_SECONDS)
    except TimeoutError:
        proc.kill()
        await proc.wait()


class WorkerFailed(RuntimeError):
    """The worker exited, or operations failed, before all of them completed."""


async def wait_completed(
    target: Target,
    proc: asyncio.subprocess.Process,
    n: int,
    timeout: float,
    log_path: Path,
) -> tuple[float | None, float]:
    """Poll every 100 ms until ``n`` operations completed.

    Answers the seconds (from now) at which the first completion was seen, and at
    which all were.
    """
    return await wait_until_done(
        lambda: database.progress(target.engine), proc, n, timeout, log_path
    )


async def wait_until_done(
    progress: Callable[[], Awaitable[database.Progress]],
    proc: asyncio.subprocess.Process,
    n: int,
    timeout: float,
    log_path: Path,
) -> tuple[float | None, float]:
    """Poll ``progress`` every 100 ms until ``n`` jobs completed (any job system).

    Answers the seconds (from now) at which the first completion was seen, and at
    which all were.
    """
    started = time.perf_counter()
    first: float | None = None
    while True:
        state = await progress()
        elapsed = time.perf_counter() - started
        if state.completed and first is None:
            first = elapsed
        if state.completed >= n:
            return first, elapsed
        if state.failed:
            raise WorkerFailed(f"{state.failed} jobs failed; see {log_path}")
        if proc.returncode is not None:
            raise WorkerFailed(f"the worker exited with {proc.returncode}; see {log_path}")
        if elapsed > timeout:
            raise WorkerFailed(f"{state.completed}/{n} completed after {timeout:g} s")
        await asyncio.sleep(POLL_SECONDS)


@dataclass(frozen=True)
class ThroughputRun:
    concurrency: int
    count: int
    enqueued: Enqueued
    first_seen_seconds: float  # worker spawned → first completion seen by the poll
    total_seconds: float  # worker spawned → all completions seen by the poll
    span_seconds: float  # first → last completion (finished_at, server clock)

    @property
    def per_second(self) -> float:
        """Operations per second between the first and the last completion."""
        return self.count / self.span_seconds

    @property
    def per_second_total(self) -> float:
        """Operations per second including the worker's start-up."""
        return self.count / self.total_seconds


async def throughput(
    target: Target,
    concurrency: int,
    n: int,
    *,
    batch_size: int,
    timeout: float,
    log_path: Path,
    cprofile: Path | None = None,
) -> ThroughputRun:
    """Enqueue ``n`` operations, then time one worker process working them all off."""
    await database.truncate_operations(target.engine)
    enqueued = await enqueue(target, n, batch_size)
    await database.analyze_operations(target.engine)
    async with worker_process(target.url, concurrency, log_path, cprofile) as proc:
        first, total = await wait_completed(target, proc, n, timeout, log_path)
    return ThroughputRun(
        concurrency=concurrency,
        count=n,
        enqueued=enqueued,
        first_seen_seconds=first if first is not None else total,
        total_seconds=total,
        span_seconds=await database.completion_span(target.engine),
    )


@dataclass(frozen=True)
class PickupRun:
    concurrency: int
    interval_seconds: float
    latencies: list[float]  # commit answered → handler started, seconds


async def pickup(
    target: Target,
    samples: int,
    *,
    concurrency: int,
    interval: float,
    timeout: float,
    log_path: Path,
) -> PickupRun:
    """Create operations one per transaction against an idle worker; time each pickup."""
    await database.truncate_operations(target.engine)
    async with worker_process(target.url, concurrency, log_path) as proc:
        await _warm_up(target, proc, timeout, log_path)
        committed: dict[uuid.UUID, float] = {}
        for _ in range(samples):
            async with target.sessionmaker() as session:
                op_id = await create_one(session, target)
                await session.commit()
            committed[op_id] = time.time()
            await asyncio.sleep(interval)
        await wait_completed(target, proc, WARM_UP + samples, timeout, log_path)
    started = await database.started_times(target.engine, list(committed))
    latencies = [started[op_id] - at for op_id, at in committed.items()]
    return PickupRun(concurrency=concurrency, interval_seconds=interval, latencies=latencies)


WARM_UP = 10


async def _warm_up(
    target: Target, proc: asyncio.subprocess.Process, timeout: float, log_path: Path
) -> None:
    """Let the worker connect and run a few operations, then fall idle."""
    async with target.sessionmaker() as session:
        for _ in range(WARM_UP):
            await create_one(session, target)
        await session.commit()
    await wait_completed(target, proc, WARM_UP, timeout, log_path)
    await asyncio.sleep(1.0)
