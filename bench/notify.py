"""Notification latency: from the commit that completes an operation to a waiting
``/wait`` client and to an SSE client receiving it, with many SSE clients connected.

    .venv/bin/python -m bench.notify \\
        --database-url postgresql://postgres@127.0.0.1:5432/opsapi_bench_notify

One API process (uvicorn, no worker) serves ``--clients`` SSE streams, one per
operation, all idle. Then, one operation at a time, a ``/wait`` request is opened for
it, the bench completes the operation in a transaction of its own (as a worker's
finish would: status, version and NOTIFY), and measures from the moment it sends
COMMIT until each client has read the answer or the event. Clients are raw sockets,
so the figures hold little client overhead. The database named in the URL is dropped
and recreated. Results go to ``bench/results/notify.json`` and between the notify
markers of ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shlex
import socket
import statistics
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import psutil  # type: ignore[import-untyped]
from sqlalchemy.engine import make_url

from backend.db import asyncpg_url, libpq_dsn
from bench import database, interviews, plots, report
from bench.polling import polling_latencies
from bench.triggers import trigger_cost, trigger_rows

ROOT = Path(__file__).resolve().parent.parent
START_MARKER = "<!-- notify:start -->"
END_MARKER = "<!-- notify:end -->"
TARGET_P50_MS = 15.0
TARGET_P99_MS = 100.0
PROTECTED = frozenset({"postgres", "template0", "template1"})


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.notify", description=__doc__)
    parser.add_argument(
        "--database-url",
        help="Server and database the bench may drop and recreate (default: "
        "<the bench database>_notify on the server of OPSAPI_BENCH_DATABASE_URL).",
    )
    parser.add_argument("--clients", type=int, default=1000, help="Idle SSE clients.")
    parser.add_argument("--samples", type=int, default=1000, help="Operations completed.")
    parser.add_argument(
        "--settle", type=float, default=0.05, help="Seconds between opening /wait and COMMIT."
    )
    parser.add_argument(
        "--poll-samples", type=int, default=200, help="Operations followed by 1 s polling."
    )
    parser.add_argument("--poll-interval", type=float, default=1.0, help="Seconds between polls.")
    parser.add_argument(
        "--trigger-rounds", type=int, default=10, help="Rounds of the trigger cost (0: skip)."
    )
    parser.add_argument(
        "--output", type=Path, default=ROOT / "bench/results/notify.json", help="JSON results."
    )
    parser.add_argument("--no-docs", action="store_true", help="Leave docs/benchmarks.md alone.")
    return parser.parse_args(argv)


# -- set-up ---------------------------------------------------------------------------


async def prepare(url: str) -> tuple[str, str, list[uuid.UUID]]:
    """Recreate the database; answer its URL, an API key, and ``n`` processing operations
    (each at version 2) to complete later."""
    name = make_url(url).database
    if not name or name in PROTECTED:
        raise SystemExit(f"bench.notify drops its database; name one of its own, not {name!r}")
    caller = await interviews.prepare(url)
    return url, caller.key, []


async def create_operations(dsn: str, tenant_key: str, count: int) -> list[uuid.UUID]:
    conn = await asyncpg.connect(dsn)
    try:
        tenant_id = await conn.fetchval("SELECT id FROM tenants WHERE name = 'bench'")
        ids = [uuid.uuid4() for _ in range(count)]
        await conn.executemany(
            "INSERT INTO operations (id, tenant_id, kind) VALUES ($1, $2, 'bench.notify')",
            [(i, tenant_id) for i in ids],
        )
        # Claimed, as a worker would have: completing is then a legal transition.
        await conn.execute(
            "UPDATE operations SET status = 'processing', attempt = 1, lease_owner = 'bench',"
            " started_at = now(), version = version + 1"
        )
    finally:
        await conn.close()
    return ids


@dataclass
class Server:
    process: asyncio.subprocess.Process
    port: int

    @property
    def pid(self) -> int:
        return self.process.pid


async def start_server(url: str) -> Server:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {
        **os.environ,
        "OPSAPI_DATABASE_URL": url,
        "OPSAPI_RUN_WORKER": "false",
        "OPSAPI_LOG_LEVEL": "WARNING",
        "OPSAPI_ENVIRONMENT": "production",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "uvicorn", "backend.main:create_app", "--factory",
        "--host", "127.0.0.1", "--port", str(port), "--no-access-log", "--backlog", "4096",
        cwd=ROOT, env=env, stdin=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    for _ in range(200):
        try:
            _r, w = await asyncio.open_connection("127.0.0.1", port)
            w.close()
            return Server(process, port)
        except OSError:
            await asyncio.sleep(0.1)
    raise RuntimeError("the API server did not start")


# -- clients --------------------------------------------------------------------------


def request_bytes(path: str, key: str, extra: str = "") -> bytes:
    return (
        f"GET {path} HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {key}\r\n"
        f"{extra}Connection: close\r\n\r\n"
    ).encode()


@dataclass
class SseClient:
    """One idle SSE stream; notes when the event that finished its operation arrived."""

    op_id: uuid.UUID
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    done: asyncio.Event = field(default_factory=asyncio.Event)
    received_at: float = 0.0

    async def run(self, port: int, key: str) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        path = f"/api/v1/operations/{self.op_id}/events?after=2"
        writer.write(request_bytes(path, key, "Accept: text/event-stream\r\n"))
        await writer.drain()
        try:
            while line := await reader.readline():
                if line.startswith(b"event: snapshot"):
                    self.ready.set()
                elif line.startswith(b"data: ") and b'"done":true' in line:
                    self.received_at = time.perf_counter()
                    self.done.set()
                    return
        finally:
            writer.close()


async def wait_client(port: int, key: str, op_id: uuid.UUID) -> float:
    """Open /wait for the operation; answer when its answer's first bytes arrived."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request_bytes(f"/api/v1/operations/{op_id}/wait?timeout=30", key))
    await writer.drain()
    await reader.readline()
    arrived = time.perf_counter()
    await reader.read()
    writer.close()
    return arrived


# -- measuring ------------------------------------------------------------------------


async def complete(conn: asyncpg.Connection, op_id: uuid.UUID) -> float:
    """Finish the operation as a worker does; answer when COMMIT was sent."""
    tx = conn.transaction()
    await tx.start()
    await conn.execute(
        "UPDATE operations SET status = 'completed', result = '{}'::jsonb,"
        " finished_at = now(), lease_owner = NULL, version = version + 1 WHERE id = $1",
        op_id,
    )
    await conn.execute("SELECT pg_notify('opsapi_changed', $1)", str(op_id))
    sent = time.perf_counter()
    await tx.commit()
    return sent


def summary(seconds: list[float]) -> dict[str, float | int]:
    ms = sorted(s * 1000 for s in seconds)
    cuts = statistics.quantiles(ms, n=100, method="inclusive")
    return {
        "count": len(ms),
        "mean_ms": round(statistics.fmean(ms), 3),
        "p50_ms": round(cuts[49], 3),
        "p90_ms": round(cuts[89], 3),
        "p99_ms": round(cuts[98], 3),
        "max_ms": round(ms[-1], 3),
    }


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    if args.database_url:
        url = asyncpg_url(args.database_url).render_as_string(hide_password=False)
    else:
        url = database.bench_database_url(None)
        url = database.named(url, f"{make_url(url).database}_notify")
    url, key, _ = await prepare(url)
    dsn = libpq_dsn(url)
    triggers = await trigger_cost(dsn, args.trigger_rounds) if args.trigger_rounds else {}
    followed = max(args.clients, args.samples)
    # The last one is the warm-up stream's; the pollers' come after the streams' and waits'.
    ids = await create_operations(dsn, key, followed + args.poll_samples + 1)
    server = await start_server(url)
    conn = await asyncpg.connect(dsn)
    tasks: list[asyncio.Task[None]] = []
    try:
        process = psutil.Process(server.pid)
        # One stream first, so what is measured next is connections, not imports.
        warm = SseClient(ids[-1])
        tasks.append(asyncio.create_task(warm.run(server.port, key)))
        await asyncio.wait_for(warm.ready.wait(), 30)
        rss_before = process.memory_info().rss
        clients = [SseClient(op_id) for op_id in ids[: args.clients]]
        for start in range(0, len(clients), 100):
            batch = clients[start : start + 100]
            tasks += [asyncio.create_task(c.run(server.port, key)) for c in batch]
            await asyncio.wait_for(asyncio.gather(*(c.ready.wait() for c in batch)), 60)
        await asyncio.sleep(1.0)
        rss_after = process.memory_info().rss
        print(f"{len(clients)} SSE clients connected", flush=True)
        wait_latencies: list[float] = []
        sse_latencies: list[float] = []
        for index, op_id in enumerate(ids[: args.samples]):
            waiting = asyncio.create_task(wait_client(server.port, key, op_id))
            await asyncio.sleep(args.settle)
            sent = await complete(conn, op_id)
            wait_latencies.append(await asyncio.wait_for(waiting, 30) - sent)
            if index < len(clients):
                await asyncio.wait_for(clients[index].done.wait(), 30)
                sse_latencies.append(clients[index].received_at - sent)
        polled = await polling_latencies(
            server.port,
            key,
            ids[followed : followed + args.poll_samples],
            lambda op_id: complete(conn, op_id),
            interval=args.poll_interval,
        )
        return {
            "event_triggers": triggers,
            "wait": summary(wait_latencies),
            "polling": summary(polled) if len(polled) > 1 else None,
            "poll_interval_seconds": args.poll_interval,
            "sse": summary(sse_latencies) if sse_latencies else None,
            "sse_clients": len(clients),
            "server_rss_mib_before": round(rss_before / 2**20, 1),
            "server_rss_mib_after": round(rss_after / 2**20, 1),
            "postgresql": await conn.fetchval("SHOW server_version"),
            "rss_kib_per_idle_sse_connection": round(
                (rss_after - rss_before) / 1024 / len(clients), 1
            )
            if clients
            else None,
        }
    finally:
        for task in tasks:
            task.cancel()
        await conn.close()
        server.process.terminate()
        await server.process.wait()


def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu": cpu,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def render(results: dict[str, Any]) -> str:
    wait, sse = results["wait"], results["sse"]

    def verdict(p50: float, p99: float) -> str:
        ok = p50 <= TARGET_P50_MS and p99 <= TARGET_P99_MS
        return "meets" if ok else "misses"

    rows = [
        f"| {name} | {s['p50_ms']:.2f} | {s['p90_ms']:.2f} | {s['p99_ms']:.2f} | {s['max_ms']:.2f} "
        f"| {verdict(s['p50_ms'], s['p99_ms'])} |"
        for name, s in (("`/wait` answer", wait), ("SSE event", sse))
        if s is not None
    ]
    polling = results.get("polling")
    if polling is not None:
        rows.append(
            f"| polling `GET /operations/{{id}}` every {results['poll_interval_seconds']:g} s "
            f"({polling['count']} operations) | {polling['p50_ms']:.2f} | {polling['p90_ms']:.2f} "
            f"| {polling['p99_ms']:.2f} | {polling['max_ms']:.2f} | (baseline) |"
        )
    m = results["machine"]
    return "\n".join(
        [
            "## Notification latency",
            "",
            f"From the COMMIT that completes an operation to the client reading it, over "
            f"{wait['count']:,} operations completed one at a time, with "
            f"{results['sse_clients']:,} SSE clients connected to one API process (one "
            "uvicorn process, no worker). Target: p50 ≤ 15 ms, p99 ≤ 100 ms.",
            "",
            "| client | p50 ms | p90 ms | p99 ms | max ms | target |",
            "|---|---|---|---|---|---|",
            *rows,
            "",
            "![delivery latency](../bench/results/notify-latency.png)",
            "",
            f"Memory per idle SSE connection (server RSS growth / connections): "
            f"**{results['rss_kib_per_idle_sse_connection']} KiB** "
            f"({results['server_rss_mib_before']} MiB → {results['server_rss_mib_after']} MiB "
            f"for {results['sse_clients']:,} streams).",
            "",
            *trigger_rows(results.get("event_triggers") or {}),
            f"Measured {results['measured_at']} at commit `{m['commit']}` on {m['nproc']} cores "
            f"({m['cpu']}), {m['memory_gib']} GiB of memory, load average before the run "
            f"{m['load_average'][0]:g}; PostgreSQL {m['postgresql']}, Python {m['python']}, "
            "with bench, API process and PostgreSQL on the same machine. Command:",
            "",
            f"    {results['command']}",
        ]
    )


def update_docs(path: Path, section: str) -> None:
    report.update_section(path, START_MARKER, END_MARKER, section)


def main(argv: list[str]) -> None:
    args = parse_args(argv)
    command = shlex.join([".venv/bin/python", "-m", "bench.notify", *argv])
    # Read before the bench adds its own load: the load average shows other work.
    before = report.machine_info("")
    results = asyncio.run(measure(args))
    results.update(
        command=command,
        machine={**before, "postgresql": results.pop("postgresql")},
        measured_at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    )
    print(json.dumps({k: results[k] for k in ("wait", "sse")}, indent=2))
    print(f"RSS per idle SSE connection: {results['rss_kib_per_idle_sse_connection']} KiB")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    draw(results, args.output.parent)
    if not args.no_docs:
        update_docs(ROOT / "docs/benchmarks.md", render(results))


def draw(results: dict[str, Any], folder: Path) -> None:
    """p50 and p99 of each way of following an operation to its end."""
    ways = {"/wait": results["wait"], "SSE": results["sse"], "1 s polling": results["polling"]}
    ways = {name: s for name, s in ways.items() if s is not None}
    plots.grouped_bars(
        folder / "notify-latency.png",
        title="Completion to client: /wait and SSE beside polling every second",
        groups=list(ways),
        series={q: [s[f"{q}_ms"] for s in ways.values()] for q in ("p50", "p99")},
        ylabel="milliseconds",
        footnote=plots.machine_note(results["machine"]),
    )


if __name__ == "__main__":
    main(sys.argv[1:])
