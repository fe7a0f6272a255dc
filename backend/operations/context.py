"""What a handler gets: progress reporting, its own events, cancellation, sessions, a logger."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from backend.operations import event_store, repository
from backend.operations.repository import ClaimedOperation
from backend.operations.schemas import Progress

if TYPE_CHECKING:
    from backend.llm.client import LlmClient, OperationLlm


class OperationCancelled(Exception):
    """Raised by ``raise_if_cancelled`` when the caller asked to cancel the operation."""


class OperationContext:
    """The handler's view of the operation it runs.

    Use ``session`` for the handler's final domain writes: the engine commits it in
    the same transaction as the operation's completion, so either both happen or
    neither does. Its transaction begins at the first statement, so do slow work
    (model calls) before touching it, and read through ``sessionmaker`` in short
    transactions of their own.
    """

    def __init__(
        self,
        *,
        claimed: ClaimedOperation,
        owner: str,
        engine: AsyncEngine,
        sessionmaker: async_sessionmaker[AsyncSession],
        llm: LlmClient | None = None,
    ) -> None:
        self.operation_id: uuid.UUID = claimed.id
        self.kind = claimed.kind
        self.tenant_id = claimed.tenant_id
        self.principal_id = claimed.principal_id
        self.target = claimed.target
        self.attempt = claimed.attempt
        self.max_attempts = claimed.max_attempts
        self.sessionmaker = sessionmaker
        self._owner = owner
        self._engine = engine
        self._session: AsyncSession | None = None
        self._cancel_requested = False
        self._client = llm
        # Built on first use: most operations never log, and short handlers should not
        # pay for binding a logger they do not use.
        self._log: structlog.stdlib.BoundLogger | None = None
        self._llm: OperationLlm | None = None

    @property
    def log(self) -> structlog.stdlib.BoundLogger:
        """A logger bound to this operation's id, kind and attempt."""
        if self._log is None:
            self._log = structlog.stdlib.get_logger("opsapi.handler").bind(
                operation_id=str(self.operation_id), kind=self.kind, attempt=self.attempt
            )
        return self._log

    @property
    def llm(self) -> OperationLlm:
        """The language model, recording each call's usage in this operation's completion
        transaction (see docs/llm.md)."""
        if self._llm is None:
            if self._client is None:
                raise RuntimeError("This worker was started without a language model client.")
            self._llm = self._client.for_operation(self)
        return self._llm

    @property
    def session(self) -> AsyncSession:
        """A session committed together with this operation's completion."""
        if self._session is None:
            self._session = self.sessionmaker()
        return self._session

    @property
    def used_session(self) -> AsyncSession | None:
        return self._session

    @property
    def cancel_requested(self) -> bool:
        return self._cancel_requested

    def request_cancel(self) -> None:
        self._cancel_requested = True

    def raise_if_cancelled(self) -> None:
        """For CPU-bound loops that rarely await: stop here if a cancel was requested."""
        if self._cancel_requested:
            raise OperationCancelled()

    async def progress(
        self,
        percent: float | None = None,
        stage: str | None = None,
        message: str | None = None,
    ) -> bool:
        """Publish progress on the operation; False when this attempt no longer owns it."""
        value: dict[str, Any] = Progress(percent=percent, stage=stage, message=message).model_dump()
        async with self._engine.begin() as conn:
            return await repository.set_progress(
                conn, owner=self._owner, id=self.operation_id, attempt=self.attempt, progress=value
            )

    async def emit(self, type: str, data: Any = None) -> bool:
        """Publish an event of the handler's own (e.g. ``text.delta`` with a chunk of
        generated text) to the operation's event stream; False when this attempt no
        longer owns the operation.

        ``type`` is a lowercase dotted name other than the engine's own (``created``,
        ``status``, ``progress``, ...); ``data`` is any JSON value up to 64 KiB.
        """
        async with self._engine.begin() as conn:
            seq = await event_store.emit(
                conn,
                owner=self._owner,
                id=self.operation_id,
                attempt=self.attempt,
                type=type,
                data=data,
            )
        return seq is not None
