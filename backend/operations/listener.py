"""One LISTEN connection per process, fanned out to in-process subscribers.

Clients waiting on an operation never hold a database connection of their own and
never poll: they wait on an in-memory event that this listener sets when
PostgreSQL announces a change. If the connection drops, it reconnects with backoff
and wakes everyone so they re-read the state they care about.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator

import asyncpg

from backend.config import DatabaseSettings

log = logging.getLogger(__name__)

Callback = Callable[[str], None]


class Listener:
    def __init__(
        self,
        dsn: str,
        channels: dict[str, Callback],
        *,
        connect_timeout: float = DatabaseSettings().connect_timeout,
    ) -> None:
        self._dsn = dsn
        self._connect_timeout = connect_timeout
        self._channels = channels
        self._conn: asyncpg.Connection | None = None
        self._task: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()
        self.on_reconnect: list[Callable[[], None]] = []

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="opsapi-listener")
        # Up and listening before start() returns, so nothing committed after it is missed.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._connected.wait(), timeout=10)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._conn is not None and not self._conn.is_closed():
            await self._conn.close(timeout=2)

    @property
    def connection(self) -> asyncpg.Connection | None:
        """The live LISTEN connection, for session-scoped work such as advisory locks."""
        return self._conn if self._conn is not None and not self._conn.is_closed() else None

    def _dispatch(self, _conn: object, _pid: int, channel: str, payload: str) -> None:
        callback = self._channels.get(channel)
        if callback is not None:
            callback(payload)

    async def _run(self) -> None:
        delay = 0.1
        while True:
            try:
                await self._listen()
                delay = 0.1
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any failure means: reconnect
                log.warning("listener connection failed, retrying", extra={"error": str(exc)})
            self._connected.clear()
            self._conn = None
            for callback in self.on_reconnect:
                callback()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    async def _listen(self) -> None:
        """Connect, subscribe, and return only when the connection is lost."""
        lost = asyncio.Event()
        conn = await asyncpg.connect(self._dsn, timeout=self._connect_timeout)
        try:
            conn.add_termination_listener(lambda _conn: lost.set())
            for channel in self._channels:
                await conn.add_listener(channel, self._dispatch)
            self._conn = conn
            self._connected.set()
            for callback in self.on_reconnect:
                callback()
            await lost.wait()
        except Exception:
            # A connection that failed half-way must not stay open; on a stop,
            # stop() closes it politely.
            conn.terminate()
            raise


class ChangeWaiters:
    """In-memory registry of tasks waiting for an operation to change."""

    def __init__(self) -> None:
        self._waiting: dict[uuid.UUID, set[asyncio.Event]] = defaultdict(set)

    def on_changed(self, payload: str) -> None:
        for part in payload.split(","):
            try:
                op_id = uuid.UUID(part)
            except ValueError:
                continue
            for event in self._waiting.get(op_id, ()):
                event.set()

    def wake_all(self) -> None:
        for events in self._waiting.values():
            for event in events:
                event.set()

    @contextlib.contextmanager
    def watch(self, op_id: uuid.UUID) -> Iterator[asyncio.Event]:
        """An event set on every change of ``op_id`` while the block runs."""
        event = asyncio.Event()
        self._waiting[op_id].add(event)
        try:
            yield event
        finally:
            events = self._waiting.get(op_id)
            if events is not None:
                events.discard(event)
                if not events:
                    del self._waiting[op_id]
