"""Batches final outcomes into one fenced UPDATE per round trip.

The writer has an asyncpg connection of its own (normal, synchronous commits: a
completion a client was told about survives a database crash). Each batch is one
statement: it finishes every row whose lease this worker still holds for that
attempt (fenced per row), and its trigger and ``pg_notify`` calls write each
operation's events and notifications in that same transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid

import asyncpg

from backend.operations import repository
from backend.operations.connection import DedicatedConnection
from backend.operations.repository import Outcome

log = logging.getLogger(__name__)

MAX_BATCH = 100

# Written instead of a result PostgreSQL refused to store (a NUL character, say),
# so that one bad result fails its own operation, not the batch it travelled in.
UNSTORABLE_RESULT = {
    "code": "INVALID_RESULT",
    "message": "The operation produced a result that cannot be stored.",
    "retryable": False,
}


class OutcomeWriter:
    """Collects outcomes from many handlers and writes them together.

    While one batch is being written the next accumulates, so under load one
    statement finishes many operations; when idle a single outcome goes at once.
    """

    def __init__(self, dsn: str, *, owner: str, retention_seconds: float) -> None:
        self._connection = DedicatedConnection(dsn, name="outcomes")
        self._owner = owner
        self._retention = retention_seconds
        self._queue: list[tuple[Outcome, asyncio.Future[bool]]] = []
        self._ready = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None

    @property
    def backlog(self) -> int:
        """Outcomes queued and not yet written."""
        return len(self._queue)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="opsapi-outcome-writer")

    async def write(self, outcome: Outcome) -> bool:
        """Queue an outcome; answer whether it won (False: fenced off by another actor)."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._queue.append((outcome, future))
        self._ready.set()
        return await future

    async def stop(self, timeout: float = 10.0) -> None:
        """Write what is queued, then stop.

        If the database stays away longer than ``timeout``, the outcomes still queued
        are dropped: their leases expire and the maintenance leader takes them back.
        """
        if self._task is None:
            return
        self._closing = True
        self._ready.set()
        done, _ = await asyncio.wait({self._task}, timeout=timeout)
        if not done:
            log.warning("outcomes not written at shutdown", extra={"count": len(self._queue)})
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            for _outcome, future in self._queue:
                future.cancel()
            self._queue.clear()
        await self._connection.close()

    async def _run(self) -> None:
        delay = 0.05
        while True:
            await self._ready.wait()
            self._ready.clear()
            while self._queue:
                batch = self._queue[:MAX_BATCH]
                try:
                    won = await self._flush([o for o, _ in batch])
                except Exception as exc:  # noqa: BLE001 - the database may be away: retry
                    self._connection.discard()
                    log.warning(
                        "writing outcomes failed, retrying",
                        extra={"error": repository.brief(exc)},
                    )
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 5.0)
                    continue
                delay = 0.05
                del self._queue[: len(batch)]
                for outcome, future in batch:
                    if not future.done():
                        future.set_result(outcome.id in won)
            if self._closing:
                return

    async def _flush(self, outcomes: list[Outcome]) -> set[uuid.UUID]:
        conn = await self._connection.get()
        try:
            return await self._finish(conn, outcomes)
        except asyncpg.DataError:
            # PostgreSQL refused a value (the statement changed nothing): write the
            # outcomes one by one so that only the bad one is marked failed.
            won: set[uuid.UUID] = set()
            for outcome in outcomes:
                won |= await self._finish_alone(conn, outcome)
            return won

    async def _finish_alone(self, conn: asyncpg.Connection, outcome: Outcome) -> set[uuid.UUID]:
        try:
            return await self._finish(conn, [outcome])
        except asyncpg.DataError as exc:
            log.error(
                "outcome could not be stored; operation failed",
                extra={"operation_id": str(outcome.id), "error": repository.brief(exc)},
            )
            failed = Outcome(outcome.id, outcome.attempt, "failed", error=UNSTORABLE_RESULT)
            return await self._finish(conn, [failed])

    async def _finish(self, conn: asyncpg.Connection, outcomes: list[Outcome]) -> set[uuid.UUID]:
        return await repository.finish_batch(
            conn, owner=self._owner, outcomes=outcomes, retention_seconds=self._retention
        )
