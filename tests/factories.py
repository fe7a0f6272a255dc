"""Small helpers to create operations, run workers and read operations back in tests."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.config import Settings
from backend.db import create_engine
from backend.operations import repository, service
from backend.operations.models import Operation
from backend.operations.registry import Registry
from backend.operations.worker import Worker
from tests.conftest import ApiCaller
from tests.kinds import RUNS_TABLE

PROJECT_ROOT = Path(__file__).resolve().parent.parent


async def submit(
    sessionmaker: async_sessionmaker[AsyncSession],
    registry: Registry,
    caller: ApiCaller,
    kind: str,
    params: dict[str, Any] | None = None,
    **options: Any,
) -> uuid.UUID:
    async with sessionmaker() as session:
        op = await service.create_operation(
            session,
            registry,
            tenant_id=caller.tenant_id,  # type: ignore[arg-type]
            principal_id=caller.principal_id,  # type: ignore[arg-type]
            kind=kind,
            params=params or {},
            **options,
        )
        await session.commit()
        return op.id


async def submit_many(
    sessionmaker: async_sessionmaker[AsyncSession],
    registry: Registry,
    caller: ApiCaller,
    kind: str,
    count: int,
    params: dict[str, Any] | None = None,
    *,
    params_of: Callable[[int], dict[str, Any]] | None = None,
) -> list[uuid.UUID]:
    """Create ``count`` operations in one transaction (one INSERT, one wake-up), each
    with ``params``, or with ``params_of(i)`` for the i-th."""
    spec = registry.get(kind)
    ops = [
        Operation(
            tenant_id=caller.tenant_id,
            principal_id=caller.principal_id,
            kind=kind,
            queue=spec.queue,
            params=spec.params.model_validate(
                params_of(i) if params_of else params or {}
            ).model_dump(mode="json"),
            max_attempts=spec.max_attempts,
        )
        for i in range(count)
    ]
    async with sessionmaker() as session:
        session.add_all(ops)
        await session.flush()
        await repository.notify_pending(session, spec.queue)
        await session.commit()
    return [op.id for op in ops]


async def create_runs_table(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    async with sessionmaker() as session:
        await session.execute(text(RUNS_TABLE))
        await session.commit()


async def recorded_runs(
    sessionmaker: async_sessionmaker[AsyncSession], op_id: uuid.UUID | None = None
) -> list[tuple[uuid.UUID, int, int]]:
    """Rows of test_runs as (operation_id, attempt, worker_pid)."""
    query = "SELECT operation_id, attempt, worker_pid FROM test_runs"
    if op_id is not None:
        query += " WHERE operation_id = :id"
    async with sessionmaker() as session:
        rows = (await session.execute(text(query), {"id": op_id})).all()
    return [(r.operation_id, r.attempt, r.worker_pid) for r in rows]


async def fetch(sessionmaker: async_sessionmaker[AsyncSession], op_id: uuid.UUID) -> Operation:
    async with sessionmaker() as session:
        op = await session.scalar(select(Operation).where(Operation.id == op_id))
        assert op is not None
        return op


async def count_by_status(sessionmaker: async_sessionmaker[AsyncSession]) -> dict[str, int]:
    async with sessionmaker() as session:
        rows = (
            await session.execute(select(Operation.status, func.count()).group_by(Operation.status))
        ).all()
    return {status: count for status, count in rows}


async def wait_until(
    sessionmaker: async_sessionmaker[AsyncSession],
    op_id: uuid.UUID,
    statuses: set[str],
    timeout: float = 15.0,
) -> Operation:
    """Poll the row until it reaches one of ``statuses`` (test helper, not a timing claim)."""
    return await wait_for(
        sessionmaker, op_id, lambda op: op.status in statuses, f"in {statuses}", timeout
    )


async def wait_for(
    sessionmaker: async_sessionmaker[AsyncSession],
    op_id: uuid.UUID,
    condition: Callable[[Operation], bool],
    expected: str,
    timeout: float = 15.0,
) -> Operation:
    """Poll the row until ``condition`` holds; ``expected`` says what for in the failure."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        op = await fetch(sessionmaker, op_id)
        if condition(op):
            return op
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"operation {op_id} not {expected} after {timeout}s: {op.status}")
        await asyncio.sleep(0.05)


async def wait_until_all(
    sessionmaker: async_sessionmaker[AsyncSession],
    status: str,
    count: int,
    timeout: float = 60.0,
) -> dict[str, int]:
    """Poll until ``count`` operations have ``status``; answer the counts per status."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        counts = await count_by_status(sessionmaker)
        if counts.get(status, 0) >= count:
            return counts
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"still {counts} after {timeout}s, expected {count} {status}")
        await asyncio.sleep(0.1)


@contextlib.asynccontextmanager
async def running_worker(
    database_url: str, registry: Registry, settings: Settings, **options: Any
) -> AsyncIterator[Worker]:
    """A Worker with its own engine, run as a task until the block ends."""
    engine = create_engine(database_url, settings)
    worker = Worker(
        engine=engine, database_url=database_url, registry=registry, settings=settings, **options
    )
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop), name=f"test-worker-{worker.id}")
    try:
        yield worker
    finally:
        stop.set()
        try:
            await asyncio.wait_for(task, timeout=30)
        finally:
            await engine.dispose()


class WorkerProcess:
    """An ``opsapi worker`` subprocess whose stderr (its log) is collected for asserts."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.pid = process.pid
        self.log = ""
        self._logged = asyncio.Event()
        self._reader = asyncio.create_task(self._read(), name=f"worker-log-{process.pid}")

    async def _read(self) -> None:
        assert self.process.stderr is not None
        while line := await self.process.stderr.readline():
            self.log += line.decode(errors="replace")
            self._logged.set()
        self._logged.set()  # end of the log: wake waiters so they can give up

    def send(self, sig: signal.Signals) -> None:
        if self.process.returncode is None:
            os.kill(self.pid, sig)

    async def wait_for_log(self, fragment: str, timeout: float = 15.0) -> None:
        """Wait until the worker has logged ``fragment``; fail with its log if it exits."""
        try:
            async with asyncio.timeout(timeout):
                while fragment not in self.log:
                    if self._reader.done():
                        raise AssertionError(
                            f"worker exited without logging {fragment!r}:\n{self.log}"
                        )
                    self._logged.clear()
                    await self._logged.wait()
        except TimeoutError:
            raise AssertionError(
                f"worker did not log {fragment!r} within {timeout}s:\n{self.log}"
            ) from None

    async def wait_exit(self, timeout: float = 15.0) -> int:
        code = await asyncio.wait_for(self.process.wait(), timeout=timeout)
        await self._reader
        return code

    async def kill(self) -> None:
        if self.process.returncode is None:
            # A stopped process must be continued to act on the kill promptly.
            self.send(signal.SIGCONT)
            self.send(signal.SIGKILL)
        await self.wait_exit()


def worker_env(database_url: str, **worker: object) -> dict[str, str]:
    """The environment of a worker subprocess: the test database, test kinds, short
    intervals, and INFO logs so a test can see when it has started."""
    values: dict[str, object] = {
        "concurrency": 4,
        "poll_interval": 0.2,
        "lease_seconds": 2.0,
        "heartbeat_interval": 0.3,
        "maintenance_interval": 0.3,
        "shutdown_grace": 2.0,
        **worker,
    }
    env = dict(os.environ)
    env.update(
        {
            "OPSAPI_DATABASE_URL": database_url,
            "OPSAPI_HANDLER_MODULES": json.dumps(["tests.kinds"]),
            "OPSAPI_LOG_LEVEL": "INFO",
            "OPSAPI_LOG_FORMAT": "console",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update({f"OPSAPI_WORKER__{k.upper()}": str(v) for k, v in values.items()})
    return env


@contextlib.asynccontextmanager
async def worker_processes(database_url: str) -> AsyncIterator[list[WorkerProcess]]:
    """A list to start worker subprocesses into (see ``spawn``); all are killed at the end."""
    started: list[WorkerProcess] = []
    try:
        yield started
    finally:
        for worker in started:
            await worker.kill()


async def spawn(
    started: list[WorkerProcess],
    database_url: str,
    *args: str,
    env: dict[str, str] | None = None,
    ready_within: float = 15.0,
    **worker: object,
) -> WorkerProcess:
    """Start ``opsapi worker`` in the project folder (so ``tests.kinds`` imports) and
    wait until it is listening and claiming; ``env`` adds settings of its own."""
    process = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).with_name("opsapi")),
        "worker",
        *args,
        cwd=PROJECT_ROOT,
        env={**worker_env(database_url, **worker), **(env or {})},
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    proc = WorkerProcess(process)
    started.append(proc)
    await proc.wait_for_log("worker started", timeout=ready_within)
    return proc


class ApiServer:
    """A real ``uvicorn`` API process (for streaming and multi-process behaviour)."""

    def __init__(self, process: asyncio.subprocess.Process, url: str) -> None:
        self.process = process
        self.url = url
        self.log = WorkerProcess(process)

    async def stop(self) -> None:
        if self.process.returncode is None:
            self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), timeout=10)
            except TimeoutError:
                self.process.kill()
        await self.log.wait_exit()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def uvicorn_command(port: int) -> list[str]:
    """The command serving the app with uvicorn on a loopback ``port``."""
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "backend.main:create_app",
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-access-log",
    ]


@contextlib.asynccontextmanager
async def api_server(database_url: str, **env: str) -> AsyncIterator[ApiServer]:
    """Serve the app with uvicorn on a free loopback port (test kinds, no worker)
    until the block ends; ``env`` adds settings such as ``OPSAPI_EVENTS__PING_SECONDS``."""
    port = free_port()
    environment = worker_env(database_url)
    environment.update({"OPSAPI_RUN_WORKER": "false", "OPSAPI_LOG_LEVEL": "WARNING", **env})
    process = await asyncio.create_subprocess_exec(
        *uvicorn_command(port),
        cwd=PROJECT_ROOT,
        env=environment,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    server = ApiServer(process, f"http://127.0.0.1:{port}")
    try:
        await _until_healthy(server)
        yield server
    finally:
        await server.stop()


async def _until_healthy(server: ApiServer, timeout: float = 20.0) -> None:
    async with httpx.AsyncClient(base_url=server.url) as client:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            if server.process.returncode is not None:
                raise AssertionError(f"API server exited:\n{server.log.log}")
            with contextlib.suppress(httpx.TransportError):
                if (await client.get("/healthz")).status_code == 200:
                    return
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"API server not up after {timeout}s:\n{server.log.log}")
            await asyncio.sleep(0.1)
