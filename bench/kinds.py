"""The benchmark's operation kind: a handler that does no work but note when it started.

Worker processes load it with ``OPSAPI_HANDLER_MODULES='["bench.kinds"]'``.
"""

from __future__ import annotations

import time

from pydantic import BaseModel

from backend.operations.context import OperationContext
from backend.operations.registry import Registry

NOOP = "bench.noop"


class NoopParams(BaseModel):
    """No parameters: the benchmark measures the engine, not the work."""


async def noop(ctx: OperationContext, params: NoopParams) -> dict[str, float]:
    """Answer the wall-clock time the handler started, from which pickup latency is read."""
    return {"started": time.time()}


def register(registry: Registry) -> None:
    """Add the no-op kind (the hook ``OPSAPI_HANDLER_MODULES`` calls)."""
    registry.register(NOOP, noop, params=NoopParams)
