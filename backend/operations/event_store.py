"""The operation event log: reading it, and handler-emitted events.

Events of state changes are written by triggers on ``operations`` (migration 0003)
with ``seq`` = the operation's version after the change. A handler's own event bumps
the version and inserts its row in one statement, fenced like progress, so the log
stays gap-free and the ETag changes with it.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text

from backend.operations import repository
from backend.operations.repository import Executor

# Types the engine writes itself; a handler's events must be named otherwise.
RESERVED_TYPES = frozenset(
    {"created", "status", "progress", "cancel_requested", "updated", "snapshot"}
)
EVENT_TYPE_PATTERN = re.compile(r"^[a-z][a-z0-9_]*([.-][a-z0-9_]+)*$")
MAX_EVENT_TYPE_LENGTH = 64
# Events are meant to be small (a chunk of text, a stage reached); results belong in
# the operation's result.
MAX_EVENT_BYTES = 64 * 1024
# Events read per query; a stream reads again until it has caught up.
READ_BATCH = 500


@dataclass(frozen=True)
class OperationEvent:
    seq: int
    type: str
    data: Any
    created_at: datetime

    @property
    def done(self) -> bool:
        """True for the event that finished the operation (the last one it will have)."""
        return self.type == "status" and isinstance(self.data, dict) and bool(self.data.get("done"))


def validate_event(type: str, data: Any) -> str:
    """The event's data as JSON; ValueError when the type or the size is not allowed."""
    if (
        len(type) > MAX_EVENT_TYPE_LENGTH
        or not EVENT_TYPE_PATTERN.match(type)
        or type in RESERVED_TYPES
    ):
        raise ValueError(
            f"Event type {type!r} must be a lowercase name like 'text.delta' (at most "
            f"{MAX_EVENT_TYPE_LENGTH} characters) and not one of {sorted(RESERVED_TYPES)}."
        )
    payload = json.dumps(data, separators=(",", ":"), default=str)
    if len(payload.encode()) > MAX_EVENT_BYTES:
        raise ValueError(
            f"Event data is larger than {MAX_EVENT_BYTES} bytes: send smaller events, "
            "and put large output in the operation's result."
        )
    return payload


# By primary key, fenced like progress. The UPDATE's own event trigger runs at the
# end of this statement, finds the row already written and leaves it alone.
_EMIT = text(
    """
    WITH bumped AS (
        UPDATE operations
        SET version = version + 1, updated_at = now()
        WHERE id = :id AND attempt = :attempt AND status = 'processing'
          AND lease_owner = :owner
        RETURNING id, version
    )
    INSERT INTO operation_events (operation_id, seq, type, data)
    SELECT id, version, :type, CAST(:data AS jsonb) FROM bumped
    RETURNING seq
    """
)


async def emit(
    conn: Executor,
    *,
    owner: str,
    id: uuid.UUID,
    attempt: int,
    type: str,
    data: Any,
) -> int | None:
    """Append a handler's event; answer its sequence number, or None when this attempt
    no longer owns the operation."""
    payload = validate_event(type, data)
    seq = await conn.scalar(
        _EMIT, {"owner": owner, "id": id, "attempt": attempt, "type": type, "data": payload}
    )
    if seq is None:
        return None
    await repository.notify_changed(conn, [id])
    return int(seq)


# By primary key of operation_events (operation_id, seq), scoped to the tenant.
_READ = text(
    """
    SELECT e.seq, e.type, e.data, e.created_at
    FROM operation_events AS e
    JOIN operations AS o ON o.id = e.operation_id
    WHERE e.operation_id = :id AND o.tenant_id = :tenant AND e.seq > :after
    ORDER BY e.seq
    LIMIT :limit
    """
)


async def read_events(
    conn: Executor,
    *,
    tenant_id: uuid.UUID,
    operation_id: uuid.UUID,
    after: int,
    limit: int = READ_BATCH,
) -> list[OperationEvent]:
    """The operation's events with ``seq > after``, in order."""
    rows = (
        await conn.execute(
            _READ, {"id": operation_id, "tenant": tenant_id, "after": after, "limit": limit}
        )
    ).all()
    return [OperationEvent(r.seq, r.type, r.data, r.created_at) for r in rows]
