"""The baseline ``/wait`` and SSE are compared with: a client polling
``GET /operations/{id}`` every second until the operation is done.

Each poller has its own keep-alive connection and starts at a random phase of its
interval, as independent clients do; the operations are completed one at a time, so
the latency measured is the wait for the next poll plus the request itself.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import Awaitable, Callable

from bench.connections import Connection

DONE = b'"done":true'


async def poll_until_done(
    port: int, key: str, op_id: uuid.UUID, interval: float, started: asyncio.Event
) -> float:
    """Poll every ``interval`` seconds, from a random phase; answer when the answer that
    showed the operation done was read (``time.perf_counter()``)."""
    connection = await Connection.open(port)
    try:
        started.set()
        await asyncio.sleep(random.uniform(0, interval))
        while True:
            asked = time.perf_counter()
            _status, body, _seconds = await connection.get(f"/api/v1/operations/{op_id}", key)
            if DONE in body:
                return time.perf_counter()
            await asyncio.sleep(max(0.0, interval - (time.perf_counter() - asked)))
    finally:
        connection.close()


async def polling_latencies(
    port: int,
    key: str,
    ids: list[uuid.UUID],
    complete: Callable[[uuid.UUID], Awaitable[float]],
    *,
    interval: float = 1.0,
    spacing: float = 0.02,
) -> list[float]:
    """Seconds from each operation's COMMIT (as ``complete`` answers it) to its poller
    reading it done."""
    events = [asyncio.Event() for _ in ids]
    pollers = [
        asyncio.create_task(poll_until_done(port, key, op_id, interval, event))
        for op_id, event in zip(ids, events, strict=True)
    ]
    try:
        await asyncio.wait_for(asyncio.gather(*(e.wait() for e in events)), 60)
        await asyncio.sleep(interval)  # every poller into its rhythm
        sent = []
        for op_id in ids:
            sent.append(await complete(op_id))
            await asyncio.sleep(spacing)
        seen = await asyncio.wait_for(asyncio.gather(*pollers), 60 + interval)
    finally:
        for task in pollers:
            task.cancel()
    return [read - commit for read, commit in zip(seen, sent, strict=True)]
