"""GET /operations/{id}/events: an operation's events as server-sent events.

Each event's SSE ``id`` is its sequence number. A client resumes with
``Last-Event-ID`` (what browsers send on reconnection) or ``?after=N`` and gets
exactly the events it missed. While a stream is idle it holds no database
connection and polls nothing: it waits on the process's one LISTEN connection
(``ChangeWaiters``) and reads the new events in a short session when woken.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sse_starlette import EventSourceResponse, ServerSentEvent

from backend.auth.dependencies import CurrentCaller
from backend.errors import AppError, problem_responses
from backend.operations import event_store, service
from backend.operations.event_store import OperationEvent
from backend.operations.http import to_schema
from backend.operations.models import Operation
from backend.operations.visibility import reader_of

router = APIRouter(prefix="/operations", tags=["operations"])

EVENT_STREAM_DESCRIPTION = """\
A `text/event-stream`. Each event has `id:` (its sequence number), `event:` (its type)
and `data:` (JSON):

- `created`, `status`, `progress`, `cancel_requested`, `updated`: a change of the
  operation; `data` is `{status, done, attempt, progress, cancel_requested, error,
  result}` (`result` only once completed).
- any other type (e.g. `text.delta`): an event the operation's handler emitted, with
  its own `data`.
- `snapshot`: sent at once when a resumed stream has nothing to catch up on; `data` is
  the whole Operation and `id` its current sequence number.

Lines starting with `:` are keep-alive comments. The stream ends after the event with
`done: true`, or after the maximum connection lifetime: reconnect with `Last-Event-ID`.
"""


class InvalidLastEventId(AppError):
    status = 422
    code = "INVALID_LAST_EVENT_ID"
    title = "Invalid Last-Event-ID"

    def __init__(self) -> None:
        super().__init__(
            "Last-Event-ID must be the id of an event of this stream (a non-negative "
            "integer). Reconnect without it to receive the stream from the start."
        )


Reader = Callable[[uuid.UUID, uuid.UUID, int], Awaitable[list[OperationEvent]]]


class SharedReads:
    """Coalesces identical reads: streams of the same operation woken by the same
    change share one query instead of each running its own."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessionmaker = sessionmaker
        # A future's result is the events, or None when its reader went away (the
        # streams waiting on it then read for themselves).
        self._pending: dict[tuple[uuid.UUID, uuid.UUID, int], asyncio.Future[Any]] = {}

    async def read(
        self, tenant_id: uuid.UUID, operation_id: uuid.UUID, after: int
    ) -> list[OperationEvent]:
        key = (tenant_id, operation_id, after)
        while (pending := self._pending.get(key)) is not None:
            shared = await asyncio.shield(pending)
            if shared is not None:
                return list(shared)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        events = None
        try:
            async with self._sessionmaker() as session:
                events = await event_store.read_events(
                    session, tenant_id=tenant_id, operation_id=operation_id, after=after
                )
            return events
        finally:
            future.set_result(events)
            del self._pending[key]


def resume_position(last_event_id: str | None, after: int | None) -> int | None:
    """Where a stream resumes: ``Last-Event-ID`` (sent by reconnecting browsers, so it
    wins over the URL's ``after``), else ``after``; None for a stream from the start."""
    if last_event_id is not None and last_event_id.strip():
        value = last_event_id.strip()
        # isascii: "²".isdigit() is true, and a header may carry it (latin-1).
        if not (value.isascii() and value.isdigit()) or len(value) > 10:
            raise InvalidLastEventId()
        return int(value)
    return after


@router.get(
    "/{operation_id}/events",
    name="stream_operation_events",
    summary="Follow an operation's events (server-sent events)",
    response_class=EventSourceResponse,
    responses={
        200: {
            "description": EVENT_STREAM_DESCRIPTION,
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        },
        204: {"description": "A reconnection to a finished operation that missed nothing."},
        **problem_responses(401, 404, 422),
    },
)
async def stream_operation_events(
    operation_id: uuid.UUID,
    request: Request,
    caller: CurrentCaller,
    after: Annotated[
        int | None, Query(ge=0, description="Resume after this sequence number.")
    ] = None,
    last_event_id: Annotated[
        str | None,
        Header(
            alias="Last-Event-ID",
            description="Resume after this event id (sent by EventSource on reconnection).",
        ),
    ] = None,
) -> Response:
    """Every event of the operation in order, from the start or after the given id,
    live until the operation finishes."""
    position = resume_position(last_event_id, after)
    state = request.app.state
    async with state.sessionmaker() as session:
        op = await service.get_operation(session, reader_of(request, caller), operation_id)
    if op.state.done and last_event_id and position is not None and position >= op.version:
        # EventSource reconnects whenever a stream ends; 204 tells it to stop.
        return Response(status_code=204)
    settings = state.settings.events
    stream = _stream(
        request,
        op,
        caller.tenant_id,
        after=position,
        lifetime=settings.max_connection_seconds,
        retry_ms=settings.retry_ms,
    )
    return EventSourceResponse(stream, ping=settings.ping_seconds)


async def _stream(
    request: Request,
    op: Operation,
    tenant_id: uuid.UUID,
    *,
    after: int | None,
    lifetime: float,
    retry_ms: int,
) -> AsyncIterator[ServerSentEvent]:
    state = request.app.state
    reads: SharedReads = state.event_reads
    loop = asyncio.get_running_loop()
    deadline = loop.time() + lifetime
    last = after or 0
    first = True
    # Watching starts before the first read, so no change committed meanwhile is missed.
    with state.waiters.watch(op.id) as changed:
        while True:
            changed.clear()
            events = await read_all(reads, tenant_id, op.id, last)
            if first and not events:
                # Nothing to catch up on (a resumed stream, or an operation older than
                # its event log): start with the current state.
                last = op.version
                yield _snapshot(request, op, retry_ms)
                if op.state.done:
                    return
            for event in events:
                yield _event(event, retry_ms if first else None)
                first = False
                last = event.seq
                if event.done:
                    return
            first = False
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), timeout=remaining)


async def read_all(
    reads: SharedReads, tenant_id: uuid.UUID, op_id: uuid.UUID, after: int
) -> list[OperationEvent]:
    """Every event of the operation after ``after``, read in batches (streams that
    follow several operations, such as a document's chain, use it too)."""
    events: list[OperationEvent] = []
    while True:
        batch = await reads.read(tenant_id, op_id, after)
        events += batch
        if len(batch) < event_store.READ_BATCH:
            return events
        after = batch[-1].seq


def _event(event: OperationEvent, retry: int | None) -> ServerSentEvent:
    return ServerSentEvent(
        data=json.dumps(event.data, separators=(",", ":")),
        event=event.type,
        id=str(event.seq),
        retry=retry,
    )


def _snapshot(request: Request, op: Operation, retry: int | None) -> ServerSentEvent:
    return ServerSentEvent(
        data=to_schema(request, op).model_dump_json(),
        event="snapshot",
        id=str(op.version),
        retry=retry,
    )
