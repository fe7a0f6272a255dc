"""The peers as the benchmark drives them: install, enqueue, watch, reset.

Each peer is used through its own public API for what a user does (install its
schema, enqueue jobs, run a worker); the benchmark reads the peer's tables only to
count completions and to read when the first and the last completed.
"""

from __future__ import annotations

import sys
from importlib import metadata
from typing import Any

import asyncpg

from bench.database import Progress
from bench.peer_worker import NOOP, procrastinate_app


def progress_sql(table: str, succeeded: str, failed: tuple[str, ...]) -> str:
    """Counts of completed and of failed jobs in ``table``'s status column."""
    failed_list = ", ".join(f"'{status}'" for status in failed)
    return (
        f"SELECT count(*) FILTER (WHERE status = '{succeeded}') AS completed,"
        f" count(*) FILTER (WHERE status IN ({failed_list})) AS failed FROM {table}"
    )


def span_sql(table: str, column: str, where: str) -> str:
    """Seconds from the first completion to the last, as ``table`` timed them."""
    return f"SELECT extract(epoch FROM max({column}) - min({column})) FROM {table} WHERE {where}"


class JobSystem:
    """A peer job system in its own database, with one connection for the bench."""

    name = ""
    PROGRESS_SQL = ""
    SPAN_SQL = ""
    TABLES = ""

    def __init__(self, dsn: str, connection: asyncpg.Connection) -> None:
        self.dsn = dsn
        self.connection = connection

    @classmethod
    async def open(cls, dsn: str) -> JobSystem:
        system = cls(dsn, await asyncpg.connect(dsn))
        await system.install()
        return system

    @property
    def version(self) -> str:
        return metadata.version(self.name)

    async def install(self) -> None:
        raise NotImplementedError

    async def enqueue_one(self) -> None:
        raise NotImplementedError

    async def enqueue_batch(self, count: int) -> None:
        raise NotImplementedError

    def worker_command(self, options: list[str]) -> list[str]:
        return [sys.executable, "-m", "bench.peer_worker", self.name, "--dsn", self.dsn, *options]

    async def reset(self) -> None:
        """Forget every job, as the opsapi runs truncate their table."""
        await self.connection.execute(f"TRUNCATE {self.TABLES} CASCADE")

    async def analyze(self) -> None:
        await self.connection.execute(f"ANALYZE {self.TABLES}")

    async def progress(self) -> Progress:
        row = await self.connection.fetchrow(self.PROGRESS_SQL)
        return Progress(completed=row["completed"], failed=row["failed"])

    async def completion_span(self) -> float:
        return float(await self.connection.fetchval(self.SPAN_SQL) or 0.0)

    async def close(self) -> None:
        await self.connection.close()


class Procrastinate(JobSystem):
    name = "procrastinate"
    TABLES = "procrastinate_jobs, procrastinate_events"
    PROGRESS_SQL = progress_sql(
        "procrastinate_jobs", "succeeded", ("failed", "cancelled", "aborted")
    )
    # procrastinate's own trigger records each change of status with its time.
    SPAN_SQL = span_sql("procrastinate_events", "at", "type = 'succeeded'")

    def __init__(self, dsn: str, connection: asyncpg.Connection) -> None:
        super().__init__(dsn, connection)
        self.app: Any
        self.app, self.task = procrastinate_app(dsn)

    async def install(self) -> None:
        await self.app.open_async()
        await self.app.schema_manager.apply_schema_async()

    async def enqueue_one(self) -> None:
        await self.task.defer_async()

    async def enqueue_batch(self, count: int) -> None:
        await self.task.batch_defer_async(*({} for _ in range(count)))

    async def close(self) -> None:
        await self.app.close_async()
        await super().close()


class PgQueuer(JobSystem):
    name = "pgqueuer"
    TABLES = "pgqueuer, pgqueuer_log"
    # A finished job leaves the queue table; its outcome is logged with a timestamp.
    PROGRESS_SQL = progress_sql("pgqueuer_log", "successful", ("exception", "canceled"))
    SPAN_SQL = span_sql("pgqueuer_log", "created", "status = 'successful'")

    def __init__(self, dsn: str, connection: asyncpg.Connection) -> None:
        super().__init__(dsn, connection)
        from pgqueuer import Queries

        self.queries = Queries.from_asyncpg_connection(connection)

    async def install(self) -> None:
        await self.queries.install()

    async def enqueue_one(self) -> None:
        await self.queries.enqueue(NOOP, None)

    async def enqueue_batch(self, count: int) -> None:
        await self.queries.enqueue([NOOP] * count, [None] * count, [0] * count)


PEER_SYSTEMS: dict[str, type[JobSystem]] = {
    "procrastinate": Procrastinate,
    "pgqueuer": PgQueuer,
}
