"""End to end: operations created over HTTP, run by 1, 2 and 4 worker processes
(concurrency 50 each) against a fake model answering in 1–3 s.

    .venv/bin/python -m bench.e2e [--database-url postgresql://…/opsapi_bench] [--n 5000]

For each worker count the database is recreated, ``--n`` completed interview sessions
are seeded, one API process (uvicorn, no worker) and the worker processes start, and
the client asks feedback for every session (``POST …/generate-feedback``, 64 requests
in flight) as fast as the API accepts them. Time to complete is ``finished_at −
created_at`` of each operation; the completion rate is the count over the time from
the first creation to the last completion; an operation not completed in the end is
lost. Results go to ``bench/results/e2e.json``, the plot of operations completed over
time to ``bench/results/e2e-completed.png``, and the tables between the e2e markers of
``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from sqlalchemy.engine import make_url

from backend.db import libpq_dsn
from bench import database, interviews, plots, report
from bench.connections import free_port, wait_port
from bench.fake_model import opsapi_settings
from bench.measure import child_process

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench/results"


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.e2e", description=__doc__)
    parser.add_argument("--database-url", help="Server, and the database name to start from.")
    parser.add_argument("--n", type=int, default=5000, help="Operations per worker count.")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--concurrency", type=int, default=50, help="Per worker process.")
    parser.add_argument("--model-delay", type=float, nargs=2, default=[1.0, 3.0])
    parser.add_argument("--in-flight", type=int, default=64, help="Create requests at once.")
    parser.add_argument("--timeout", type=float, default=900.0, help="Seconds per point.")
    parser.add_argument("--output", type=Path, default=RESULTS / "e2e.json")
    parser.add_argument("--no-docs", action="store_true", help="Leave docs/benchmarks.md alone.")
    return parser.parse_args(argv)


def environment(url: str, model_port: int, concurrency: int) -> dict[str, str]:
    """The settings every opsapi process of the run shares."""
    # One model request per handler slot: the model, not the client, sets the pace.
    return {
        **opsapi_settings(url, model_port),
        "OPSAPI_LLM__MAX_CONCURRENCY": str(concurrency),
    }


async def submit(port: int, key: str, paths: list[str], in_flight: int) -> dict[str, Any]:
    """POST every path, ``in_flight`` at once; count the answers by status."""
    statuses: dict[str, int] = {}
    queue = iter(paths)
    limits = httpx.Limits(max_connections=in_flight, max_keepalive_connections=in_flight)
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}",
        headers={"Authorization": f"Bearer {key}"},
        limits=limits,
        timeout=60.0,
    ) as client:

        async def sender() -> None:
            for path in queue:
                try:
                    status = str((await client.post(path)).status_code)
                except httpx.TransportError as exc:
                    status = type(exc).__name__  # no answer: counted, not retried
                statuses[status] = statuses.get(status, 0) + 1

        started = time.perf_counter()
        await asyncio.gather(*(sender() for _ in range(in_flight)))
        seconds = time.perf_counter() - started
    return {
        "seconds": round(seconds, 3),
        "per_second": round(len(paths) / seconds, 1),
        "statuses": dict(sorted(statuses.items())),
    }


async def wait_finished(dsn: str, n: int, timeout: float) -> dict[str, int]:
    """Poll until every operation is terminal (or the timeout); answer counts by status."""
    connection = await asyncpg.connect(dsn)
    try:
        deadline = time.monotonic() + timeout
        while True:
            rows = await connection.fetch(
                "SELECT status, count(*) AS n FROM operations GROUP BY status"
            )
            counts = {row["status"]: row["n"] for row in rows}
            done = sum(counts.get(s, 0) for s in ("completed", "failed", "cancelled"))
            if done >= n or time.monotonic() > deadline:
                return counts
            await asyncio.sleep(0.5)
    finally:
        await connection.close()


async def timings(dsn: str) -> list[tuple[float, float]]:
    """(created, finished) of each completed operation, seconds from the first creation."""
    connection = await asyncpg.connect(dsn)
    try:
        rows = await connection.fetch(
            "SELECT extract(epoch FROM created_at - first) AS created,"
            " extract(epoch FROM finished_at - first) AS finished"
            " FROM operations, (SELECT min(created_at) AS first FROM operations) f"
            " WHERE status = 'completed' ORDER BY finished_at"
        )
    finally:
        await connection.close()
    return [(float(r["created"]), float(r["finished"])) for r in rows]


async def measure_point(
    url: str, workers: int, model_port: int, args: argparse.Namespace
) -> dict[str, Any]:
    """One worker count: fresh database, API process, workers, the load, the outcome."""
    caller = await interviews.prepare(url)
    sessions = await interviews.completed_sessions(url, caller, args.n)
    env = environment(url, model_port, args.concurrency)
    api_port = free_port()
    api = [
        sys.executable, "-m", "uvicorn", "backend.main:create_app", "--factory",
        "--host", "127.0.0.1", "--port", str(api_port), "--loop", "uvloop",
        "--no-access-log", "--backlog", "4096", "--log-level", "warning",
        # Longer than the client keeps a connection idle: no close races a request.
        "--timeout-keep-alive", "75",
    ]  # fmt: skip
    worker = [sys.executable, "-m", "bench.worker", "worker", "--concurrency"]
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(child_process(api, env, RESULTS / "e2e-api.log.tmp"))
        for index in range(workers):
            log = RESULTS / f"e2e-worker-{index + 1}.log.tmp"
            command = [*worker, str(args.concurrency)]
            await stack.enter_async_context(child_process(command, env, log))
        await wait_port(api_port, "the API server")
        await asyncio.sleep(2.0)  # the workers connect and start listening
        paths = [interviews.feedback_path(s) for s in sessions]
        created = await submit(api_port, caller.key, paths, args.in_flight)
        accepted = created["statuses"].get("202", 0)
        counts = await wait_finished(libpq_dsn(url), accepted, args.timeout)
    points = await timings(libpq_dsn(url))
    completed = len(points)
    to_complete = [finished - created_at for created_at, finished in points]
    last = max((finished for _c, finished in points), default=0.0)
    result = {
        "workers": workers,
        "concurrency": args.concurrency,
        "n": args.n,
        "create": created,
        "statuses": counts,
        "accepted": accepted,
        "completed": completed,
        # Accepted (202: the operation is committed) and never completed.
        "lost": accepted - completed,
        "seconds": round(last, 3),
        "per_second": round(completed / last, 1) if last else 0.0,
        "time_to_complete": report.latency_summary(to_complete) if len(to_complete) > 1 else None,
        "completed_over_time": _timeline(points),
    }
    print(
        f"{workers} workers: {result['per_second']:,.1f} completed/s, "
        f"{completed}/{args.n} completed, create {created['per_second']:,.0f}/s",
        flush=True,
    )
    return result


def _timeline(points: list[tuple[float, float]]) -> list[list[float]]:
    """Operations completed by each half second since the first creation."""
    finished = sorted(f for _c, f in points)
    timeline, index, step = [], 0, 0.5
    for tick in range(int((finished[-1] if finished else 0) / step) + 2):
        while index < len(finished) and finished[index] <= tick * step:
            index += 1
        timeline.append([tick * step, index])
    return timeline


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    url = database.bench_database_url(args.database_url)
    url = database.named(url, f"{make_url(url).database}_e2e")
    model_port = free_port()
    low, high = args.model_delay
    model = [
        sys.executable, "-m", "bench.fake_model", "--port", str(model_port),
        "--delay", str(low), "--delay-max", str(high), "--answer", "interview",
    ]  # fmt: skip
    machine = report.machine_info("")
    async with child_process(model, {}, RESULTS / "e2e-model.log.tmp"):
        await wait_port(model_port, "the fake model server")
        points = [await measure_point(url, w, model_port, args) for w in args.workers]
    connection = await asyncpg.connect(libpq_dsn(url))
    machine["postgresql"] = await connection.fetchval("SHOW server_version")
    await connection.close()
    return {
        "benchmark": "e2e",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine,
        "model_delay_seconds": [low, high],
        "points": points,
    }


def draw(results: dict[str, Any], folder: Path) -> None:
    plots.lines(
        folder / "e2e-completed.png",
        title=f"Operations completed over time ({results['points'][0]['n']:,} created over HTTP)",
        series={
            f"{p['workers']} worker{'s' if p['workers'] > 1 else ''} × {p['concurrency']}": (
                [t for t, _n in p["completed_over_time"]],
                [n for _t, n in p["completed_over_time"]],
            )
            for p in results["points"]
        },
        xlabel="seconds since the first create",
        ylabel="operations completed",
        footnote=plots.machine_note(results["machine"]),
    )


def render(results: dict[str, Any]) -> str:
    m = results["machine"]
    low, high = results["model_delay_seconds"]
    base = results["points"][0]["per_second"] or 1.0
    rows = [
        f"| {p['workers']} × {p['concurrency']} | {p['n']:,} | {p['create']['per_second']:,.0f} "
        f"| {p['per_second']:,.1f} ({p['per_second'] / base:.1f}×) | "
        f"{_seconds(p, 'p50_ms')} | {_seconds(p, 'p99_ms')} | {p['accepted']:,} | {_refused(p)} "
        f"| {p['completed']:,} | {p['lost']} |"
        for p in results["points"]
    ]
    return "\n".join(
        [
            "## End to end: operations over HTTP with a slow model",
            "",
            f"Measured {results['measured_at'][:16].replace('T', ' ')} UTC at commit "
            f"`{m['commit']}` on {m['nproc']} cores ({m['cpu']}), {m['memory_gib']} GiB of "
            f"memory, load average before the run {m['load_average'][0]:g}; PostgreSQL "
            f"{m['postgresql']}, Python {m['python']}. Command:",
            "",
            "```sh",
            results["command"],
            "```",
            "",
            "Interview feedback asked for over HTTP (`POST /api/v1/sessions/{id}/"
            "generate-feedback`, 64 requests in flight, as fast as one API process accepts "
            f"them), run by worker processes against a fake model answering in {low:g}–"
            f"{high:g} s (uniform), everything on this machine. The ideal rate is workers × "
            f"concurrency ÷ {(low + high) / 2:g} s. Time to complete is `finished_at − "
            "created_at`: with all operations created in a burst it is mostly the wait in the "
            "queue, so its p99 is close to the whole run. Lost: accepted (202, so committed) "
            "but not completed at the end.",
            "",
            "| workers × concurrency | requests | created/s | completed/s | time to complete "
            "p50 | p99 | accepted (202) | refused | completed | lost |",
            "|---|---|---|---|---|---|---|---|---|---|",
            *rows,
            "",
            "![completed over time](../bench/results/e2e-completed.png)",
            "",
            "Raw figures: `bench/results/e2e.json`.",
        ]
    )


def _refused(point: dict[str, Any]) -> str:
    """Create requests not answered 202, by status (e.g. 503 when the pool timed out)."""
    other = {k: v for k, v in point["create"]["statuses"].items() if k != "202"}
    return ", ".join(f"{v} × {k}" for k, v in other.items()) or "0"


def _seconds(point: dict[str, Any], quantile: str) -> str:
    summary = point["time_to_complete"]
    return f"{summary[quantile] / 1000:.1f} s" if summary else "–"


def main(argv: list[str]) -> None:
    report.run_harness("e2e", argv, parse_args(argv), measure, draw, render)


if __name__ == "__main__":
    main(sys.argv[1:])
