"""HTTP throughput and latency at 64 connections: opsapi's create (202) and
``GET /operations/{id}`` beside a floor app (``bench.floor``: bare FastAPI inserting or
reading one row with asyncpg), with 1 and 2 uvicorn processes on uvloop.

    .venv/bin/python -m bench.http_load [--database-url postgresql://…/opsapi_bench]

The create is ``POST /api/v1/sessions/{id}/generate-feedback`` on completed sessions
seeded beforehand, one session per request, so every 202 commits a new operation (the
authentication, session check, operation insert, event and wake-up of a real create).
The load generator is wrk (C, event-driven, 2 threads): a Python client would need
most of a core itself to drive thousands of requests a second, on a machine whose
two cores the server and PostgreSQL share. wrk's own CPU time is recorded. Results go
to ``bench/results/http.json``, plots to ``bench/results/http-*.png`` and between the
http markers of ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import sys
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import psutil  # type: ignore[import-untyped]
from sqlalchemy.engine import make_url

from backend.db import libpq_dsn
from bench import database, interviews, plots, report
from bench.connections import free_port, wait_port
from bench.floor import DSN_VARIABLE, SCHEMA

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench/results"
LUA = Path(__file__).resolve().parent / "wrk.lua"
TARGET_FRACTION = 0.70


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.http_load", description=__doc__)
    parser.add_argument("--database-url", help="Server, and the database name to start from.")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads.")
    parser.add_argument("--duration", type=int, default=10, help="Seconds per measured run.")
    parser.add_argument("--warm-up", type=int, default=3, help="Seconds of load before each.")
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    parser.add_argument(
        "--sessions", type=int, default=80_000, help="Sessions seeded per opsapi server."
    )
    parser.add_argument("--output", type=Path, default=RESULTS / "http.json")
    parser.add_argument("--no-docs", action="store_true", help="Leave docs/benchmarks.md alone.")
    return parser.parse_args(argv)


# -- the two apps ---------------------------------------------------------------------


@dataclass
class App:
    """One app under load: how to serve it, what to send, what the creates made."""

    name: str
    factory: str
    env: dict[str, str]
    key: str
    dsn: str
    create_paths: list[str]
    rows_sql: str  # the ids of what the creates made, for the GET paths

    async def get_paths(self) -> list[str]:
        connection = await asyncpg.connect(self.dsn)
        try:
            rows = await connection.fetch(self.rows_sql)
        finally:
            await connection.close()
        prefix = "/api/v1/operations/" if self.name == "opsapi" else "/jobs/"
        return [f"{prefix}{row['id']}" for row in rows]

    async def created(self) -> int:
        connection = await asyncpg.connect(self.dsn)
        try:
            count: int = await connection.fetchval(f"SELECT count(*) FROM ({self.rows_sql}) r")
        finally:
            await connection.close()
        return count


async def opsapi_app(url: str, sessions: int) -> App:
    caller = await interviews.prepare(url)
    ids = await interviews.completed_sessions(url, caller, sessions)
    env = {
        "OPSAPI_DATABASE_URL": url,
        "OPSAPI_RUN_WORKER": "false",
        "OPSAPI_LOG_LEVEL": "WARNING",
        "OPSAPI_ENVIRONMENT": "production",
    }
    return App(
        name="opsapi",
        factory="backend.main:create_app",
        env=env,
        key=caller.key,
        dsn=libpq_dsn(url),
        create_paths=[interviews.feedback_path(i) for i in ids],
        rows_sql="SELECT id FROM operations",
    )


async def floor_app(url: str) -> App:
    await database.create_empty(url)
    dsn = libpq_dsn(url)
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(SCHEMA)
    finally:
        await connection.close()
    return App(
        name="floor",
        factory="bench.floor:create_app",
        env={DSN_VARIABLE: dsn},
        key="",
        dsn=dsn,
        # The floor needs no seed: any path creates a job.
        create_paths=["/jobs"],
        rows_sql="SELECT id FROM floor_jobs",
    )


async def serve(app: App, processes: int, log_path: Path) -> tuple[asyncio.subprocess.Process, int]:
    port = free_port()
    log = log_path.open("wb")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "uvicorn", app.factory, "--factory",
        "--host", "127.0.0.1", "--port", str(port), "--workers", str(processes),
        "--loop", "uvloop", "--http", "httptools", "--no-access-log", "--backlog", "4096",
        "--log-level", "warning",
        cwd=ROOT, env={**os.environ, **app.env}, stdout=log, stderr=log,
    )  # fmt: skip
    log.close()
    await wait_port(port, f"{app.name} ({processes} processes)")
    await asyncio.sleep(1.0 * processes)  # every process through its lifespan
    return process, port


# -- wrk ------------------------------------------------------------------------------


async def wrk(
    port: int, method: str, paths: list[str], key: str, seconds: int, args: argparse.Namespace
) -> dict[str, Any]:
    """One wrk run; its figures, with the CPU seconds wrk itself used."""
    with tempfile.NamedTemporaryFile("w", suffix=".paths", delete=False) as file:
        file.write("\n".join(paths) + "\n")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    process = await asyncio.create_subprocess_exec(
        "wrk", "-t", str(args.threads), "-c", str(args.connections), "-d", f"{seconds}s",
        "--timeout", "10s", "-s", str(LUA), f"http://127.0.0.1:{port}",
        "--", method, file.name, key, str(args.threads),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await process.communicate()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    os.unlink(file.name)
    lines = [line for line in output.decode().splitlines() if line.startswith("{")]
    if process.returncode != 0 or not lines:
        raise RuntimeError(f"wrk failed: {output.decode()[-2000:]}")
    figures: dict[str, Any] = json.loads(lines[-1])
    seconds_measured = figures["duration_us"] / 1e6
    figures["per_second"] = round(figures["requests"] / seconds_measured, 1)
    figures["wrk_cpu_share"] = round(
        (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) / seconds_measured, 3
    )
    return figures


def server_cpu_seconds(pid: int) -> float:
    """CPU time used so far by the uvicorn process and its worker processes."""
    root = psutil.Process(pid)
    seconds = 0.0
    for process in [root, *root.children(recursive=True)]:
        times = process.cpu_times()
        seconds += float(times.user + times.system)
    return seconds


def _per_request(pid: int, cpu_before: float, figures: dict[str, Any]) -> float:
    """Milliseconds of server CPU per request since ``cpu_before`` was read."""
    used = server_cpu_seconds(pid) - cpu_before
    requests = int(figures["requests"])
    return round(used * 1000 / max(requests, 1), 3)


async def measure_app(app: App, processes: int, args: argparse.Namespace) -> dict[str, Any]:
    """Warm up, then the create run, then the GET run over what the creates made."""
    log_path = RESULTS / f"http-{app.name}-{processes}.log.tmp"
    process, port = await serve(app, processes, log_path)
    try:
        # Warm-up and run take paths from the two halves: no create is sent twice.
        half = len(app.create_paths) // 2 or 1
        warm, run = app.create_paths[:half], app.create_paths[half:] or app.create_paths
        await wrk(port, "POST", warm, app.key, args.warm_up, args)
        created_before = await app.created()
        cpu = server_cpu_seconds(process.pid)
        post = await wrk(port, "POST", run, app.key, args.duration, args)
        post["server_cpu_ms_per_request"] = _per_request(process.pid, cpu, post)
        post["created"] = await app.created() - created_before
        get_paths = await app.get_paths()
        cpu = server_cpu_seconds(process.pid)
        get = await wrk(port, "GET", get_paths, app.key, args.duration, args)
        get["server_cpu_ms_per_request"] = _per_request(process.pid, cpu, get)
    finally:
        process.terminate()
        await process.wait()
    print(
        f"{app.name}, {processes} processes: POST {post['per_second']:,.0f}/s "
        f"(p99 {post['p99_us'] / 1000:.1f} ms), GET {get['per_second']:,.0f}/s "
        f"(p99 {get['p99_us'] / 1000:.1f} ms)",
        flush=True,
    )
    return {"app": app.name, "processes": processes, "post": post, "get": get}


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is not installed (Debian/Ubuntu: apt-get install wrk)")
    url = database.bench_database_url(args.database_url)
    name = make_url(url).database
    runs = []
    machine: dict[str, Any] = {}
    for processes in args.processes:
        # Fresh databases for each process count: the same table sizes for both apps.
        opsapi_url = database.named(url, f"{name}_http")
        floor_url = database.named(url, f"{name}_floor")
        apps = [await floor_app(floor_url), await opsapi_app(opsapi_url, args.sessions)]
        if not machine:
            connection = await asyncpg.connect(libpq_dsn(floor_url))
            version = await connection.fetchval("SHOW server_version")
            await connection.close()
            machine = report.machine_info(version)
        for app in apps:
            runs.append(await measure_app(app, processes, args))
    return {
        "benchmark": "http",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine,
        "connections": args.connections,
        "threads": args.threads,
        "duration_seconds": args.duration,
        "runs": runs,
    }


# -- output ---------------------------------------------------------------------------


def _pairs(results: dict[str, Any]) -> list[tuple[str, int, dict[str, Any], dict[str, Any]]]:
    """(method, processes, floor figures, opsapi figures) for every measured pair."""
    by = {(r["app"], r["processes"]): r for r in results["runs"]}
    return [
        (method, p, by[("floor", p)][method], by[("opsapi", p)][method])
        for p in sorted({r["processes"] for r in results["runs"]})
        for method in ("post", "get")
        if ("floor", p) in by and ("opsapi", p) in by
    ]


def draw(results: dict[str, Any], folder: Path) -> None:
    note = plots.machine_note(results["machine"])
    pairs = _pairs(results)
    groups = [f"{'POST' if m == 'post' else 'GET'}, {p} proc." for m, p, _f, _o in pairs]
    plots.grouped_bars(
        folder / "http-throughput.png",
        title=f"Requests per second at {results['connections']} connections",
        groups=groups,
        series={
            "floor": [f["per_second"] for _m, _p, f, _o in pairs],
            "opsapi": [o["per_second"] for _m, _p, _f, o in pairs],
        },
        ylabel="requests/s",
        footnote=note,
    )
    plots.grouped_bars(
        folder / "http-latency.png",
        title=f"p99 latency at {results['connections']} connections",
        groups=groups,
        series={
            "floor": [f["p99_us"] / 1000 for _m, _p, f, _o in pairs],
            "opsapi": [o["p99_us"] / 1000 for _m, _p, _f, o in pairs],
        },
        ylabel="milliseconds",
        footnote=note,
    )


def render(results: dict[str, Any]) -> str:
    m = results["machine"]
    rows = []
    for method, processes, floor, ours in _pairs(results):
        fraction = ours["per_second"] / floor["per_second"]
        verdict = "met" if fraction >= TARGET_FRACTION else "**not met**"
        request = "create (POST, 202)" if method == "post" else "GET by id"
        rows.append(
            f"| {request} | {processes} | {floor['per_second']:,.0f} | "
            f"{floor['p50_us'] / 1000:.1f} / {floor['p99_us'] / 1000:.1f} | "
            f"{ours['per_second']:,.0f} | {ours['p50_us'] / 1000:.1f} / "
            f"{ours['p99_us'] / 1000:.1f} | {fraction:.0%} ({verdict}) | "
            f"{ours['non_2xx'] + ours['socket_errors']} | "
            f"{floor['server_cpu_ms_per_request']:.2f} / {ours['server_cpu_ms_per_request']:.2f} |"
        )
    creates = [r["post"] for r in results["runs"] if r["app"] == "opsapi"]
    made = ", ".join(f"{c['created']:,}" for c in creates)
    answered = ", ".join(f"{c['requests']:,}" for c in creates)
    wrk_share = max(
        r[method]["wrk_cpu_share"] for r in results["runs"] for method in ("post", "get")
    )
    return "\n".join(
        [
            "## HTTP: opsapi beside a floor app",
            "",
            f"Measured {results['measured_at'][:16].replace('T', ' ')} UTC at commit "
            f"`{m['commit']}` on {m['nproc']} cores ({m['cpu']}), {m['memory_gib']} GiB of "
            f"memory, load average before the run {m['load_average'][0]:g}; PostgreSQL "
            f"{m['postgresql']}, Python {m['python']}. Server, PostgreSQL and load generator "
            "share the machine. Command:",
            "",
            "```sh",
            results["command"],
            "```",
            "",
            f"wrk, {results['threads']} threads, {results['connections']} keep-alive "
            f"connections, {results['duration_seconds']} s per run after a warm-up; uvicorn "
            "with uvloop and httptools. The floor (`bench/floor.py`) is a bare FastAPI "
            "endpoint inserting one row (POST) or reading one row (GET) with asyncpg. "
            "opsapi's create is `POST /api/v1/sessions/{id}/generate-feedback` on a completed "
            "session, one session per request (authentication, ownership check, operation "
            "row, event, wake-up, 202 with `Location`); its GET is `GET "
            "/api/v1/operations/{id}` on the operations just created. Goal: opsapi ≥ "
            f"{TARGET_FRACTION:.0%} of the floor.",
            "",
            "| request | uvicorn processes | floor req/s | floor p50 / p99 ms | opsapi req/s "
            "| opsapi p50 / p99 ms | opsapi / floor | opsapi errors | server CPU ms per request, "
            "floor / opsapi |",
            "|---|---|---|---|---|---|---|---|---|",
            *rows,
            "",
            f"Operations committed while opsapi's create runs lasted: {made} (wrk counted "
            f"{answered} answers; a request in flight when a run starts or ends counts in one "
            f"figure only). wrk used at most {wrk_share:.0%} of one core.",
            "",
            "![HTTP throughput](../bench/results/http-throughput.png)",
            "![HTTP latency](../bench/results/http-latency.png)",
            "",
            "Raw figures: `bench/results/http.json`.",
        ]
    )


def main(argv: list[str]) -> None:
    report.run_harness("http_load", argv, parse_args(argv), measure, draw, render, "http")


if __name__ == "__main__":
    main(sys.argv[1:])
