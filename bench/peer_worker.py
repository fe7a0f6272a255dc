"""One worker process of a peer job system, running the same no-op job as ``bench.kinds``.

    python -m bench.peer_worker procrastinate --dsn postgresql://… --concurrency 10
    python -m bench.peer_worker pgqueuer --dsn postgresql://… --limit 10   # 0: unlimited

The peers (``procrastinate``, ``pgqueuer``) come with the ``bench`` extra only; they
are never dependencies of opsapi. SIGTERM stops the worker gracefully, as it stops
``opsapi worker``.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from typing import Any

import asyncpg
import uvloop

PROCRASTINATE_QUEUE = "bench"
NOOP = "noop"


def procrastinate_app(dsn: str) -> tuple[Any, Any]:
    """The procrastinate app on ``dsn`` and its no-op task (the bench defers it too)."""
    import procrastinate

    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=dsn))

    @app.task(name=NOOP, queue=PROCRASTINATE_QUEUE)
    async def noop() -> None:
        """Does nothing: the benchmark measures the job system, not the work."""

    return app, noop


async def run_procrastinate(dsn: str, concurrency: int) -> None:
    app, _task = procrastinate_app(dsn)
    async with app.open_async():
        await app.run_worker_async(
            queues=[PROCRASTINATE_QUEUE], concurrency=concurrency, install_signal_handlers=True
        )


async def run_pgqueuer(dsn: str, limit: int) -> None:
    """One QueueManager with its default batching; ``limit`` caps the no-op entrypoint's
    concurrency (0: pgqueuer's default, no limit)."""
    from pgqueuer import Job, Queries, QueueManager

    connection = await asyncpg.connect(dsn)
    manager = QueueManager(Queries.from_asyncpg_connection(connection))

    @manager.entrypoint(NOOP, concurrency_limit=limit)
    async def noop(job: Job) -> None:
        """Does nothing: the benchmark measures the job system, not the work."""

    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, manager.shutdown.set)
    try:
        await manager.run()
    finally:
        await connection.close()


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.peer_worker")
    parser.add_argument("engine", choices=["procrastinate", "pgqueuer"])
    parser.add_argument("--dsn", required=True)
    parser.add_argument("--concurrency", type=int, default=1, help="procrastinate's.")
    parser.add_argument("--limit", type=int, default=0, help="pgqueuer's per-entrypoint limit.")
    args = parser.parse_args(argv)
    if args.engine == "procrastinate":
        uvloop.run(run_procrastinate(args.dsn, args.concurrency))
    else:
        uvloop.run(run_pgqueuer(args.dsn, args.limit))


if __name__ == "__main__":
    main(sys.argv[1:])
