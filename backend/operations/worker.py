"""The worker: claims operations, runs their handlers, keeps leases, writes outcomes.

One worker process runs many handlers concurrently on one event loop. Any number of
workers on any number of machines share the database; exactly one of them at a time
(the holder of an advisory lock) also runs maintenance: rescue of expired leases and
pruning of expired operations.

Claiming is lock-free for operations without a concurrency key; when a claim comes
back short (the queue is short, or keyed operations are among the next in line) the
worker runs the keyed claim, which counts running operations per key under a
transaction-level advisory lock (see ``claims.claim_keyed``).

Besides SQLAlchemy's pool (heartbeats, maintenance, retries, handlers' sessions) and
the LISTEN connection, a worker keeps two asyncpg connections of its own: one for
claims, one for the batched completions of the ``OutcomeWriter``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from backend.config import Settings
from backend.db import libpq_dsn
from backend.ids import new_id
from backend.llm import LlmClient
from backend.operations import claims, repository, scheduling, service, upkeep
from backend.operations.connection import DedicatedConnection
from backend.operations.context import OperationContext
from backend.operations.execution import Execution, StopReason, Verdict
from backend.operations.listener import Listener
from backend.operations.registry import Registry, set_running_registry
from backend.operations.repository import ClaimedOperation, Outcome
from backend.operations.writer import MAX_BATCH, OutcomeWriter

log = logging.getLogger(__name__)

# pg_try_advisory_lock key of the maintenance leader ("opsapi" in ASCII).
MAINTENANCE_LOCK_KEY = 0x6F707361706920


class Worker:
    def __init__(
        self,
        *,
        engine: AsyncEngine,
        database_url: str,
        registry: Registry,
        settings: Settings,
        concurrency: int | None = None,
        queues: Sequence[str] | None = None,
        kinds: Sequence[str] | None = None,
    ) -> None:
        self.id = f"{socket.gethostname()}:{os.getpid()}:{new_id().hex[-8:]}"
        self._engine = engine
        self._sessionmaker = async_sessionmaker(engine, expire_on_commit=False)
        self._dsn = libpq_dsn(database_url)
        self._registry = registry
        self._settings = settings
        self._ws = settings.worker
        self._retention = settings.operations.retention_seconds
        self._concurrency = concurrency or self._ws.concurrency
        self._queues = list(queues or self._ws.queues)
        self._kinds = list(kinds) if kinds else registry.names()
        unknown = [k for k in self._kinds if k not in registry]
        if unknown:
            raise ValueError(f"Unknown operation kinds for this worker: {', '.join(unknown)}")
        self._running: dict[uuid.UUID, Execution] = {}
        # Handlers running now: what ``concurrency`` bounds (see ``_free_slots``).
        self._handling = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        # Claims commit without waiting for the WAL flush. If the database server
        # crashes, a claim it had acknowledged may be lost: the operation is then
        # pending again, or still processing under a lease nobody renews, which the
        # maintenance leader rescues when it expires. Either way it runs again, as
        # after a worker crash; no completion is ever acknowledged before it is
        # durable (the outcome writer and handler sessions commit synchronously), and
        # a completion cannot outlive its claim: it is written after the claim's
        # commit record in the WAL, so a crash that loses one loses both.
        self._claims = DedicatedConnection(
            self._dsn, name="claims", settings={"synchronous_commit": "off"}
        )
        self._writer = OutcomeWriter(self._dsn, owner=self.id, retention_seconds=self._retention)
        # One model client per worker, shared by its handlers as ``ctx.llm``.
        self._llm = LlmClient.from_settings(settings, engine=engine)
        # The connection that holds the maintenance lock; the lock dies with it.
        self._lock_connection: asyncpg.Connection | None = None
        self.is_leader = False

    async def run(self, stop: asyncio.Event) -> None:
        """Work until ``stop`` is set, then shut down gracefully."""
        listener = Listener(
            self._dsn,
            {
                repository.CHANNEL_PENDING: self._on_pending,
                repository.CHANNEL_CANCEL: self._on_cancel,
            },
        )
        listener.on_reconnect.append(self._wake.set)
        await listener.start()
        self._writer.start()
        loops = [
            asyncio.create_task(self._heartbeat_loop(), name="opsapi-heartbeat"),
            asyncio.create_task(self._maintenance_loop(listener), name="opsapi-maintenance"),
        ]
        log.info(
            "worker started",
            extra={"worker_id": self.id, "concurrency": self._concurrency, "kinds": self._kinds},
        )
        # A stop wakes the claim loop like any other reason to look again.
        stopping = asyncio.create_task(_set_when(stop, self._wake), name="opsapi-stop-watch")
        try:
            await self._claim_loop(stop)
        finally:
            stopping.cancel()
            await self._drain()
            for task in loops:
                task.cancel()
            await asyncio.gather(*loops, return_exceptions=True)
            await self._writer.stop()
            await self._claims.close()
            await listener.stop()
            await self._llm.aclose()
            # Closing the listener's connection gave the maintenance lock back.
            self._lock_connection = None
            self.is_leader = False
            log.info("worker stopped", extra={"worker_id": self.id})

    # -- claiming -----------------------------------------------------------------

    async def _claim_loop(self, stop: asyncio.Event) -> None:
        failures = 0
        while not stop.is_set():
            free = self._free_slots()
            if free > 0:
                self._wake.clear()
                try:
                    claimed = await self._claim(free)
                    failures = 0
                except Exception as exc:  # noqa: BLE001 - database away: back off, retry
                    self._claims.discard()
                    failures += 1
                    log.warning("claim failed", extra={"error": repository.brief(exc)})
                    await _sleep_or(stop, min(0.1 * 2**failures, 5.0))
                    continue
                if claimed == free:
                    # The queue may hold more: wait only for a free slot.
                    await self._wait_for_wake()
                    continue
            else:
                # Nothing to do until a slot frees (which wakes it again): a NOTIFY
                # that came meanwhile must not make this loop spin.
                self._wake.clear()
            await self._wait_for_wake()

    async def _wait_for_wake(self) -> None:
        """Until a NOTIFY, a freed slot or a stop (``run`` wakes it), or the poll interval."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self._ws.poll_interval):
                await self._wake.wait()

    def _free_slots(self) -> int:
        """How many operations to claim now.

        A slot is a running handler. An attempt whose handler has returned holds no
        slot while its outcome waits to be written, so the next claims overlap that
        write and the writer finishes several attempts per statement even at
        concurrency 1. Such an attempt keeps its lease (heartbeats cover it) until the
        write is done. At most one write batch of them is waiting at any time, which
        bounds a worker's leases to ``concurrency`` + ``writer.MAX_BATCH`` when the
        database is slow to take outcomes.
        """
        return min(
            self._concurrency - self._handling,
            self._concurrency + MAX_BATCH - len(self._running),
        )

    async def _claim(self, limit: int) -> int:
        """Claim and start up to ``limit`` operations; answer how many."""
        conn = await self._claims.get()
        claimed = await claims.claim_batch(conn, **self._claim_args(limit))
        for op in claimed:
            self._start(op)
        if len(claimed) == limit:
            return limit
        # Short: keyed operations may have taken places among the next in line. The
        # handlers just started run while this second claim is under way.
        keyed = await claims.claim_keyed(conn, **self._claim_args(limit - len(claimed)))
        for op in keyed:
            self._start(op)
        return len(claimed) + len(keyed)

    def _claim_args(self, limit: int) -> dict[str, Any]:
        return {
            "owner": self.id,
            "queues": self._queues,
            "kinds": self._kinds,
            "limit": limit,
            "lease_seconds": self._ws.lease_seconds,
        }

    def _on_pending(self, queue: str) -> None:
        if queue in self._queues:
            self._wake.set()

    def _on_cancel(self, payload: str) -> None:
        with contextlib.suppress(ValueError):
            execution = self._running.get(uuid.UUID(payload))
            if execution is not None:
                execution.stop(StopReason.CANCEL)

    # -- running ------------------------------------------------------------------

    def _start(self, op: ClaimedOperation) -> None:
        ctx = OperationContext(
            claimed=op,
            owner=self.id,
            engine=self._engine,
            sessionmaker=self._sessionmaker,
            llm=self._llm,
        )
        execution = Execution(ctx=ctx, kind=self._registry.get(op.kind), params=op.params)
        self._running[op.id] = execution
        self._handling += 1
        task = asyncio.create_task(self._execute(execution), name=f"opsapi-op-{op.id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _execute(self, execution: Execution) -> None:
        ctx = execution.ctx
        # Inherited by the handler's task: lets it create the next operation of a chain.
        set_running_registry(self._registry)
        try:
            try:
                verdict = await execution.run()
            finally:
                # The slot is free: the next claim may run while this outcome is written.
                self._handling -= 1
                self._wake.set()
            await self._record(execution, verdict)
        except Exception:
            ctx.log.exception("recording the outcome failed; the lease will expire and rescue it")
        finally:
            session = ctx.used_session
            if session is not None:
                await session.close()
            # A retry without delay may already have been claimed again by this worker:
            # forget only this attempt's execution, never its successor's.
            if self._running.get(ctx.operation_id) is execution:
                del self._running[ctx.operation_id]
            self._wake.set()

    async def _record(self, execution: Execution, verdict: Verdict) -> None:
        ctx = execution.ctx
        session = ctx.used_session
        if verdict.status == "discard":
            ctx.log.warning("lease lost; result discarded")
            return
        if session is not None and verdict.status == "completed":
            # The handler's domain writes and the completion commit together, or not at all.
            finished = await repository.finish_batch(
                session,
                owner=self.id,
                outcomes=[Outcome(ctx.operation_id, ctx.attempt, "completed", verdict.result)],
                retention_seconds=self._retention,
            )
            if finished:
                await self._cancel_new_children(ctx, session)
                await session.commit()
            else:
                await session.rollback()
                ctx.log.warning("fenced off; result and domain writes discarded")
            return
        if session is not None:
            await session.rollback()
        if verdict.status in ("retry", "release"):
            await self._reschedule(execution, verdict)
            return
        won = await self._writer.write(
            Outcome(ctx.operation_id, ctx.attempt, verdict.status, verdict.result, verdict.error)
        )
        if not won:
            ctx.log.warning("fenced off; outcome discarded", extra={"verdict": verdict.status})
        elif verdict.status != "completed":
            ctx.log.info("operation finished", extra={"status": verdict.status})

    async def _cancel_new_children(self, ctx: OperationContext, session: AsyncSession) -> None:
        """A cancel of this operation that committed while its completion (and the
        children the handler created) was being written did not see those children:
        cancel them here, in the same transaction."""
        for parent_id in session.info.pop(scheduling.NEW_CHILDREN, set()):
            if await scheduling.cancel_was_requested(session, parent_id):
                await service.cancel_children(
                    session,
                    tenant_id=ctx.tenant_id,
                    parent_id=parent_id,
                    retention=timedelta(seconds=self._retention),
                )

    async def _reschedule(self, execution: Execution, verdict: Verdict) -> None:
        ctx = execution.ctx
        async with self._engine.begin() as conn:
            status = await repository.reschedule(
                conn,
                owner=self.id,
                id=ctx.operation_id,
                attempt=ctx.attempt,
                delay=verdict.delay,
                error=verdict.error,
                refund=verdict.refund,
                retention_seconds=self._retention,
            )
        if status is None:
            ctx.log.warning("fenced off; outcome discarded", extra={"verdict": verdict.status})
        else:
            ctx.log.info(
                "operation rescheduled",
                extra={"verdict": verdict.status, "delay": round(verdict.delay, 3), "now": status},
            )

    # -- leases -------------------------------------------------------------------

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(self._ws.heartbeat_interval)
            executions = list(self._running.values())
            if not executions:
                continue
            held = [(e.ctx.operation_id, e.ctx.attempt) for e in executions]
            try:
                async with self._engine.begin() as conn:
                    alive = await repository.extend_leases(
                        conn, owner=self.id, held=held, lease_seconds=self._ws.lease_seconds
                    )
            except Exception as exc:  # noqa: BLE001 - try again next beat
                log.warning("heartbeat failed", extra={"error": repository.brief(exc)})
                continue
            # The answer is about the executions asked for: one that finished meanwhile
            # (its operation perhaps claimed again as a new attempt) is left alone.
            for execution in executions:
                op_id = execution.ctx.operation_id
                if self._running.get(op_id) is not execution:
                    continue
                if op_id not in alive:
                    execution.stop(StopReason.LEASE_LOST)
                elif alive[op_id]:
                    execution.stop(StopReason.CANCEL)

    # -- maintenance --------------------------------------------------------------

    async def _maintenance_loop(self, listener: Listener) -> None:
        while True:
            try:
                self.is_leader = await self._hold_leadership(listener)
                if self.is_leader:
                    await self.maintain()
            except Exception as exc:  # noqa: BLE001 - try again next round
                log.warning("maintenance failed", extra={"error": repository.brief(exc)})
            await asyncio.sleep(self._ws.maintenance_interval)

    async def _hold_leadership(self, listener: Listener) -> bool:
        # A session-level advisory lock on the long-lived LISTEN connection: it is
        # released by PostgreSQL itself when this process or its connection dies. A
        # reconnected listener has a new connection that holds nothing, so the lock
        # counts only while the connection that took it is the live one.
        conn = listener.connection
        if conn is None:
            self._lock_connection = None
            return False
        if conn is self._lock_connection:
            return True
        held: bool = await conn.fetchval("SELECT pg_try_advisory_lock($1)", MAINTENANCE_LOCK_KEY)
        self._lock_connection = conn if held else None
        return held

    async def maintain(self) -> None:
        """One round of the leader's upkeep (backend.operations.upkeep)."""
        await upkeep.run_round(self._engine, self._registry, self._settings)

    # -- shutdown -----------------------------------------------------------------

    async def _drain(self) -> None:
        """Stop claiming; let handlers finish within the grace period; release the rest."""
        if self._tasks:
            log.info("draining", extra={"running": len(self._running)})
            await asyncio.wait(set(self._tasks), timeout=self._ws.shutdown_grace)
        for execution in list(self._running.values()):
            execution.stop(StopReason.SHUTDOWN)
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=10)


async def _set_when(stop: asyncio.Event, wake: asyncio.Event) -> None:
    await stop.wait()
    wake.set()


async def _sleep_or(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
