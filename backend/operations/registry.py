"""Operation kinds: which handler runs a kind, with what parameters and settings.

Features register their kinds at start-up; creating an operation of a kind that is
not registered fails at once, never later in a worker.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from backend.operations.exceptions import UnknownOperationKind

if TYPE_CHECKING:
    from backend.operations.context import OperationContext

Handler = Callable[["OperationContext", Any], Awaitable[Any]]

KIND_PATTERN = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")


@dataclass(frozen=True)
class OperationKind:
    name: str
    handler: Handler
    params: type[BaseModel]
    result: type[BaseModel] | None = None
    timeout: float = 300.0
    max_attempts: int = 3
    backoff_base: float = 2.0
    backoff_max: float = 300.0
    queue: str = "default"
    # What clients are told in Retry-After while the operation is not done.
    poll_after: int = 1
    # At most this many operations of the kind run at once per concurrency key.
    concurrency_limit: int = 1
    # How long a finished operation is kept; None: the configured default.
    retention: timedelta | None = None
    # Seen only by the principal who started it, not by the rest of its tenant: the
    # kind's result is as personal as the resource it is about.
    private: bool = False


class Registry:
    """Maps kind names to their handlers and per-kind settings."""

    def __init__(self) -> None:
        self._kinds: dict[str, OperationKind] = {}

    def register(
        self,
        name: str,
        handler: Handler,
        *,
        params: type[BaseModel],
        result: type[BaseModel] | None = None,
        timeout: float = 300.0,
        max_attempts: int = 3,
        backoff_base: float = 2.0,
        backoff_max: float = 300.0,
        queue: str = "default",
        poll_after: int = 1,
        concurrency_limit: int = 1,
        retention: timedelta | float | None = None,
        private: bool = False,
    ) -> OperationKind:
        """Register ``handler`` for ``name``.

        ``concurrency_limit`` caps the operations of this kind that process at once
        per concurrency key (see ``service.create_operation``); ``retention`` (a
        timedelta or seconds) keeps finished operations of this kind for a time of
        their own instead of ``operations.retention_seconds``; ``private`` operations
        are read, followed, cancelled and deleted by the principal who started them
        only (anyone else of the tenant gets OPERATION_NOT_FOUND).
        """
        if not KIND_PATTERN.match(name):
            raise ValueError(
                f"Kind {name!r} must be a dotted lowercase name like 'review.summary'."
            )
        if name in self._kinds:
            raise ValueError(f"Kind {name!r} is already registered.")
        if timeout <= 0 or max_attempts < 1 or backoff_base < 0 or backoff_max < backoff_base:
            raise ValueError(f"Kind {name!r}: timeout, attempts or backoff out of range.")
        if isinstance(retention, int | float):
            retention = timedelta(seconds=retention)
        if concurrency_limit < 1 or (retention is not None and retention <= timedelta(0)):
            raise ValueError(f"Kind {name!r}: concurrency_limit or retention out of range.")
        kind = OperationKind(
            name=name,
            handler=handler,
            params=params,
            result=result,
            timeout=timeout,
            max_attempts=max_attempts,
            backoff_base=backoff_base,
            backoff_max=backoff_max,
            queue=queue,
            poll_after=poll_after,
            concurrency_limit=concurrency_limit,
            retention=retention,
            private=private,
        )
        self._kinds[name] = kind
        return kind

    def get(self, name: str) -> OperationKind:
        try:
            return self._kinds[name]
        except KeyError:
            raise UnknownOperationKind(f"No handler is registered for kind {name!r}.") from None

    def __contains__(self, name: object) -> bool:
        return name in self._kinds

    def __iter__(self) -> Iterator[OperationKind]:
        return iter(self._kinds.values())

    def names(self) -> list[str]:
        return sorted(self._kinds)

    def private_kinds(self) -> frozenset[str]:
        return frozenset(k.name for k in self._kinds.values() if k.private)


# The registry of the worker running the current handler, so a handler can create the
# next operation of a chain (``service.create_child_operation``) without being handed
# the registry. Set by the worker for each execution's task.
_running_registry: ContextVar[Registry | None] = ContextVar("opsapi_registry", default=None)


def set_running_registry(registry: Registry) -> None:
    _running_registry.set(registry)


def running_registry() -> Registry:
    """The registry of the worker running this handler (only inside a handler)."""
    registry = _running_registry.get()
    if registry is None:
        raise RuntimeError("running_registry() is only available inside a handler.")
    return registry
