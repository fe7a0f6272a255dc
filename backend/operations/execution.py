"""Running one claimed operation: handler, timeout, cancellation, and its outcome."""

from __future__ import annotations

import asyncio
import json
import logging
import random
import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from backend.operations.context import OperationCancelled, OperationContext
from backend.operations.exceptions import OperationFailure
from backend.operations.registry import OperationKind
from backend.operations.repository import CANCELLED_ERROR

log = logging.getLogger(__name__)

# Seconds a stopped handler gets to unwind. One that swallows its cancellation is
# abandoned after this, so it cannot hold its operation (and its lease) forever.
STOP_GRACE = 5.0


class StopReason:
    CANCEL = "cancel"  # the caller asked to cancel
    LEASE_LOST = "lease_lost"  # someone else owns the outcome now: discard
    SHUTDOWN = "shutdown"  # grace period over: give the operation back
    TIMEOUT = "timeout"  # the kind's timeout passed


@dataclass
class Verdict:
    """What became of one attempt, before it is written."""

    status: str  # completed | failed | cancelled | retry | release | discard
    result: Any = None
    error: dict[str, Any] | None = None
    delay: float = 0.0
    refund: bool = False


@dataclass
class Execution:
    ctx: OperationContext
    kind: OperationKind
    params: dict[str, Any]
    handler_task: asyncio.Task[Any] | None = None
    stop_reason: str | None = field(default=None)
    # Resolved by stop() to wake run(): a bare future, not a task waiting on an event,
    # since one is made per attempt and the worker starts thousands a second.
    _stopping: asyncio.Future[None] | None = None

    def stop(self, reason: str) -> None:
        """Stop the handler for ``reason``; the first reason given wins."""
        if self.stop_reason is None:
            self.stop_reason = reason
        if reason == StopReason.CANCEL:
            self.ctx.request_cancel()
        if self.handler_task is not None and not self.handler_task.done():
            self.handler_task.cancel()
        if self._stopping is not None and not self._stopping.done():
            self._stopping.set_result(None)

    async def run(self) -> Verdict:
        try:
            params = self.kind.params.model_validate(self.params)
        except ValidationError:
            return _failed("INVALID_PARAMS", "The operation's parameters are no longer valid.")
        if self.stop_reason is not None:
            return self._stopped()
        task = self.handler_task = asyncio.create_task(self._call_handler(params))
        stopping = self._stopping = asyncio.get_running_loop().create_future()
        try:
            await asyncio.wait(
                {task, stopping}, timeout=self.kind.timeout, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            stopping.cancel()
        if not task.done() and self.stop_reason is None:
            self.stop(StopReason.TIMEOUT)
        if not task.done():
            await asyncio.wait({task}, timeout=STOP_GRACE)
        if not task.done():
            self.ctx.log.error("handler ignored being stopped; abandoned", reason=self.stop_reason)
            return self._stopped()
        return self._verdict(task)

    async def _call_handler(self, params: BaseModel) -> Any:
        return await self.kind.handler(self.ctx, params)

    def _verdict(self, task: asyncio.Task[Any]) -> Verdict:
        if task.cancelled():
            return self._stopped()
        exc = task.exception()
        if exc is None:
            return self._completed(task.result())
        # Whatever a handler raises while being stopped (a cancel turned into its own
        # error, say), the reason it was stopped decides the outcome.
        if self.stop_reason is not None:
            return self._stopped()
        if isinstance(exc, OperationCancelled):
            return Verdict("cancelled", error=CANCELLED_ERROR)
        if isinstance(exc, OperationFailure):
            return self._failure(exc.code, exc.message, exc.retryable, exc.retry_after)
        if isinstance(exc, TimeoutError):
            return self._failure("TIMEOUT", "A step of the operation timed out.", True, None)
        self.ctx.log.error("handler raised", exc_info=exc)
        # The message is shown to clients both while a retry waits and once attempts
        # are spent, so it promises nothing about retries.
        return self._failure("INTERNAL_ERROR", "The operation failed unexpectedly.", True, None)

    def _stopped(self) -> Verdict:
        reason = self.stop_reason
        if reason == StopReason.CANCEL:
            return Verdict("cancelled", error=CANCELLED_ERROR)
        if reason == StopReason.SHUTDOWN:
            return Verdict("release", delay=0, refund=True)
        if reason == StopReason.TIMEOUT:
            return self._failure(
                "TIMEOUT",
                f"The operation did not finish within {self.kind.timeout:g} seconds.",
                True,
                None,
            )
        return Verdict("discard")

    def _completed(self, value: Any) -> Verdict:
        try:
            result = _serialise(value, self.kind.result)
        except ValidationError as exc:
            self.ctx.log.error("handler returned an invalid result", exc_info=exc)
            return _failed("INVALID_RESULT", "The operation produced a result that is not valid.")
        problem = unstorable(result)
        if problem is not None:
            # Caught here so that it fails this operation alone, never the batch of
            # completions it would be written with.
            self.ctx.log.error("handler returned a result that cannot be stored", problem=problem)
            return _failed("INVALID_RESULT", UNSTORABLE_MESSAGE)
        return Verdict("completed", result=result)

    def _failure(
        self, code: str, message: str, retryable: bool, retry_after: float | None
    ) -> Verdict:
        error = {"code": code, "message": message, "retryable": retryable}
        if retryable and retry_after is not None:
            return Verdict("retry", error=error, delay=max(0.0, retry_after), refund=True)
        if retryable and self.ctx.attempt < self.ctx.max_attempts:
            return Verdict("retry", error=error, delay=backoff(self.kind, self.ctx.attempt))
        return Verdict("failed", error={**error, "retryable": False})


def backoff(kind: OperationKind, attempt: int) -> float:
    """Exponential backoff with jitter: base·2^(attempt-1), capped, scaled by 0.5–1.0."""
    ceiling = min(kind.backoff_max, kind.backoff_base * 2.0 ** (attempt - 1))
    return ceiling * random.uniform(0.5, 1.0)


def _failed(code: str, message: str) -> Verdict:
    return Verdict("failed", error={"code": code, "message": message, "retryable": False})


UNSTORABLE_MESSAGE = "The operation produced a result that cannot be stored."

# A NUL escaped in JSON text: "\u0000" after an even number of backslashes.
_ESCAPED_NUL = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")


def unstorable(value: Any) -> str | None:
    """Why PostgreSQL's jsonb would refuse ``value`` (NaN or infinity, a NUL
    character, a lone surrogate), or None when it can be stored."""
    try:
        text = json.dumps(value, default=str, allow_nan=False, ensure_ascii=False)
        text.encode()
    except ValueError as exc:  # UnicodeEncodeError is one
        return str(exc)
    if _ESCAPED_NUL.search(text):
        return "a string contains the NUL character"
    return None


def _serialise(value: Any, model: type[BaseModel] | None) -> Any:
    if model is not None:
        if not isinstance(value, model):
            value = model.model_validate(value)
        return value.model_dump(mode="json")
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    return value
