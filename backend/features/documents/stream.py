"""GET /documents/{id}/events: one server-sent event stream over a document's whole
chain: the extraction operation's events (progress page by page), then those of the
metadata operation it created, then a last ``document`` event with the document as it
is when the chain has ended (``ready`` or ``failed``).

It reuses the operation streams' machinery: reads shared between streams
(``SharedReads``), and waits on the process's one LISTEN connection, holding no
database connection while idle. An event's id is ``{operation id}.{sequence}``, so
``Last-Event-ID`` names the operation and the place in it to resume from; the last
event's id ends in ``.end``, and a reconnection with it is answered 204.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sse_starlette import ServerSentEvent

from backend.features.documents import service
from backend.features.documents.exceptions import DocumentNotFound
from backend.features.documents.models import Document
from backend.operations.event_store import OperationEvent
from backend.operations.events import InvalidLastEventId, SharedReads, read_all
from backend.operations.models import Operation

DOCUMENT_EVENT = "document"
END = "end"

# Renders the final event's data: the document and its current operation, as JSON.
Render = Callable[[Document, Operation | None], str]


@dataclass(frozen=True)
class Position:
    """Where a stream resumes: after event ``seq`` of ``operation_id``; ``ended`` when
    the client already had the final event."""

    operation_id: uuid.UUID
    seq: int
    ended: bool = False


def parse_position(last_event_id: str | None) -> Position | None:
    if last_event_id is None or not last_event_id.strip():
        return None
    parts = last_event_id.strip().split(".")
    try:
        if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2] != END):
            raise ValueError(last_event_id)
        if not (parts[1].isascii() and parts[1].isdigit()) or len(parts[1]) > 10:
            raise ValueError(last_event_id)
        return Position(uuid.UUID(parts[0]), int(parts[1]), ended=len(parts) == 3)
    except ValueError:
        raise InvalidLastEventId() from None


def belongs_to(op: Operation, document_id: uuid.UUID) -> bool:
    return op.kind in (service.EXTRACT_KIND, service.METADATA_KIND) and op.params.get(
        "document_id"
    ) == str(document_id)


async def starting_point(
    db: AsyncSession, tenant_id: uuid.UUID, document_id: uuid.UUID, resume: Position | None
) -> tuple[Operation | None, int]:
    """The operation a stream starts with and the sequence number it starts after: the
    one named by ``resume``, else the first of the chain the current step belongs to."""
    _, current = await service.get_document(db, tenant_id, document_id)
    if resume is not None:
        op = await db.get(Operation, resume.operation_id)
        if op is None or op.tenant_id != tenant_id or not belongs_to(op, document_id):
            raise InvalidLastEventId()
        return op, resume.seq
    op = current
    while op is not None and op.parent_id is not None:
        parent = await db.get(Operation, op.parent_id)
        if parent is None or not belongs_to(parent, document_id):
            break
        op = parent
    return op, 0


async def _child(db: AsyncSession, op: Operation, document_id: uuid.UUID) -> Operation | None:
    """The next step the operation created when it completed (ix_operations_parent_id)."""
    children = (
        await db.scalars(
            select(Operation).where(Operation.parent_id == op.id).order_by(Operation.id)
        )
    ).all()
    return next((child for child in children if belongs_to(child, document_id)), None)


async def follow(
    request: Request,
    tenant_id: uuid.UUID,
    document_id: uuid.UUID,
    start: Operation | None,
    after: int,
    render: Render,
    *,
    lifetime: float,
    retry_ms: int,
) -> AsyncIterator[ServerSentEvent]:
    """The chain's events from ``start`` (after ``after``), live until it has ended or
    ``lifetime`` has passed."""
    state = request.app.state
    reads: SharedReads = state.event_reads
    loop = asyncio.get_running_loop()
    deadline = loop.time() + lifetime
    retry: int | None = retry_ms
    op = start
    last = after
    while op is not None:
        op_id = op.id
        finished = False
        # Watching starts before the first read, so no change committed meanwhile is missed.
        with state.waiters.watch(op_id) as changed:
            while not finished:
                changed.clear()
                events = await read_all(reads, tenant_id, op_id, last)
                for event in events:
                    yield _forward(op, event, retry)
                    retry = None
                    last = event.seq
                    finished = finished or event.done
                if not events and not finished:
                    # Nothing new: is the operation done without a final event to read
                    # (its log pruned)? It may also have finished just after the read
                    # above, so its final events are read once more before leaving.
                    async with state.sessionmaker() as db:
                        fresh = await db.get(Operation, op_id)
                    if fresh is None or fresh.state.done:
                        for event in await read_all(reads, tenant_id, op_id, last):
                            yield _forward(op, event, retry)
                            retry = None
                            last = event.seq
                        finished = True
                if finished:
                    break
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(changed.wait(), timeout=remaining)
        async with state.sessionmaker() as db:
            fresh = await db.get(Operation, op_id)
            following = None
            if fresh is not None and fresh.state.done:
                following = await _child(db, fresh, document_id)
        if following is None:
            break
        op, last = following, 0
    async with state.sessionmaker() as db:
        try:
            document, current = await service.get_document(db, tenant_id, document_id)
        except DocumentNotFound:
            return
        data = render(document, current)
    ended_at = f"{op.id}.{last}.{END}" if op is not None else f"{uuid.UUID(int=0)}.0.{END}"
    yield ServerSentEvent(data=data, event=DOCUMENT_EVENT, id=ended_at, retry=retry)


def _forward(op: Operation, event: OperationEvent, retry: int | None) -> ServerSentEvent:
    """An operation's event on the document stream: its data names the operation."""
    about: dict[str, Any] = {"operation_id": str(op.id), "kind": op.kind}
    data = (
        {**about, **event.data} if isinstance(event.data, dict) else {**about, "data": event.data}
    )
    return ServerSentEvent(
        data=json.dumps(data, separators=(",", ":"), default=str),
        event=event.type,
        id=f"{op.id}.{event.seq}",
        retry=retry,
    )
