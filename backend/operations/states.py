"""The operation state machine.

pending ──▶ processing ──▶ completed | failed | cancelled
   │            │
   │            └──▶ pending   (retry, rescue of an expired lease, release at shutdown)
   └──▶ cancelled

Terminal states are final. The same table is enforced in the database by the
``operations_guard_transition`` trigger, so no code path can break it.
"""

from __future__ import annotations

import enum


class Status(enum.StrEnum):
    pending = "pending"
    processing = "processing"
    completed = "completed"
    failed = "failed"
    cancelled = "cancelled"

    @property
    def done(self) -> bool:
        return self in TERMINAL


TERMINAL = frozenset({Status.completed, Status.failed, Status.cancelled})
ACTIVE = frozenset({Status.pending, Status.processing})

TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.pending: frozenset({Status.processing, Status.cancelled}),
    Status.processing: frozenset(
        {Status.pending, Status.completed, Status.failed, Status.cancelled}
    ),
    Status.completed: frozenset(),
    Status.failed: frozenset(),
    Status.cancelled: frozenset(),
}


def can_transition(old: Status, new: Status) -> bool:
    return old == new or new in TRANSITIONS[old]
