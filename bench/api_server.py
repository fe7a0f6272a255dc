"""Serve the API (one uvicorn process, as ``opsapi serve --no-worker``) and record the
process's garbage collections: how long each pause took, per generation.

    python -m bench.api_server --port 8000 --gc-log gc.json [--unfreeze] [--gc-threshold A B C]

The pauses are written to ``--gc-log`` when the process exits (on SIGTERM). With
``--unfreeze`` the objects the app froze at start-up are given back to the collector,
to measure what freezing them saves.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from pathlib import Path
from typing import Any

import uvicorn

from backend.main import create_app


class GcLog:
    """Every collection's generation and pause, from ``gc.callbacks``."""

    def __init__(self) -> None:
        self.pauses: list[tuple[int, float]] = []
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.pauses.append((int(info["generation"]), time.perf_counter() - self._started))

    def summary(self) -> dict[str, Any]:
        by_generation: dict[str, Any] = {}
        for generation in (0, 1, 2):
            ms = sorted(p * 1000 for g, p in self.pauses if g == generation)
            by_generation[str(generation)] = {
                "collections": len(ms),
                "total_ms": round(sum(ms), 2),
                "max_ms": round(ms[-1], 2) if ms else 0.0,
            }
        return by_generation


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.api_server")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--gc-log", type=Path, required=True)
    parser.add_argument("--unfreeze", action="store_true")
    parser.add_argument(
        "--gc-threshold", type=int, nargs=3, default=None, help="gc.set_threshold after start-up."
    )
    args = parser.parse_args(argv)
    log = GcLog()
    app = create_app()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=args.port,
        access_log=False,
        backlog=4096,
        log_level="warning",
        # Clients wait seconds between requests on their keep-alive connections.
        timeout_keep_alive=300,
    )
    server = uvicorn.Server(config)

    original_startup = server.startup

    async def startup(*a: Any, **kw: Any) -> None:
        await original_startup(*a, **kw)
        if args.unfreeze:
            gc.unfreeze()
        if args.gc_threshold:
            gc.set_threshold(*args.gc_threshold)
        gc.callbacks.append(log)

    original_shutdown = server.shutdown

    async def shutdown(*a: Any, **kw: Any) -> None:
        # Written here: uvicorn re-raises SIGTERM once it has served, ending the process.
        gc.callbacks.remove(log)
        summary = {
            "gc": log.summary(),
            "frozen_objects": gc.get_freeze_count(),
            "thresholds": list(gc.get_threshold()),
        }
        args.gc_log.write_text(json.dumps(summary, indent=2) + "\n")
        await original_shutdown(*a, **kw)

    server.startup = startup  # type: ignore[method-assign]
    server.shutdown = shutdown  # type: ignore[method-assign]
    server.run()


if __name__ == "__main__":
    main(sys.argv[1:])
