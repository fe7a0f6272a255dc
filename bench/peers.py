"""Engine throughput beside the peers: the same no-op workload through opsapi's engine,
procrastinate and pgqueuer, one worker process each, in the same run on one server.

    .venv/bin/python -m bench.peers [--database-url postgresql://…/opsapi_bench] [--n 20000]

Each job system gets a database of its own on the server of ``--database-url`` (or of
``OPSAPI_DATABASE_URL``, or the embedded PostgreSQL), dropped and recreated:
``<name>`` for opsapi, ``<name>_procrastinate`` and ``<name>_pgqueuer`` for the peers.
For every setup the jobs are enqueued first, then one worker process is started; the
rate is the count over the time between the first and the last completion as the
database recorded it. Enqueue latency is single enqueues, one round trip (or
transaction) each. Results go to ``bench/results/peers.json``, plots to
``bench/results/peers-*.png`` and the tables between the peers markers of
``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from backend.db import libpq_dsn
from bench import database, plots, report
from bench.engine import prepare
from bench.measure import Target, child_process, create_latencies, throughput, wait_until_done
from bench.peer_systems import PEER_SYSTEMS, JobSystem

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench/results"
WARM_UP = 20


@dataclass(frozen=True)
class Setup:
    """One worker configuration of one job system."""

    engine: str
    label: str
    worker_args: list[str]  # opsapi: [concurrency]; peers: their worker's options


def setups(
    concurrencies: list[int], opsapi_wide: list[int], pgqueuer_limits: list[int]
) -> list[Setup]:
    """Every configuration measured, opsapi's first."""
    found = [Setup("opsapi", f"concurrency {c}", [str(c)]) for c in [*concurrencies, *opsapi_wide]]
    found += [
        Setup("procrastinate", f"concurrency {c}", ["--concurrency", str(c)]) for c in concurrencies
    ]
    found += [
        Setup(
            "pgqueuer",
            f"limit {limit}" if limit else "default batching",
            ["--limit", str(limit)],
        )
        for limit in pgqueuer_limits
    ]
    return found


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.peers", description=__doc__)
    parser.add_argument("--database-url", help="Server, and the database name to start from.")
    parser.add_argument("--n", type=int, default=20_000, help="Jobs per throughput run.")
    parser.add_argument("--batch-size", type=int, default=500, help="Jobs per enqueue.")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 10])
    parser.add_argument(
        "--opsapi-wide",
        type=int,
        nargs="*",
        default=[100],
        help="opsapi concurrencies beside pgqueuer's default (which has no limit on jobs in "
        "flight), measured for opsapi only.",
    )
    parser.add_argument(
        "--pgqueuer-limits",
        type=int,
        nargs="+",
        default=[10, 0],
        help="pgqueuer's per-entrypoint concurrency limits (0: its default batching).",
    )
    parser.add_argument("--enqueue-samples", type=int, default=500, help="Single enqueues.")
    parser.add_argument("--repeat", type=int, default=1, help="Runs per setup (median kept).")
    parser.add_argument("--timeout", type=float, default=600.0, help="Seconds per run, at most.")
    parser.add_argument("--output", type=Path, default=RESULTS / "peers.json")
    parser.add_argument("--no-docs", action="store_true", help="Leave docs/benchmarks.md alone.")
    return parser.parse_args(argv)


# -- one run --------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    count: int
    enqueue_seconds: float
    span_seconds: float  # first → last completion, database clock
    total_seconds: float  # worker started → all completions seen

    def record(self) -> dict[str, float]:
        return {
            "per_second": round(self.count / self.span_seconds, 1),
            "per_second_total": round(self.count / self.total_seconds, 1),
            "span_seconds": round(self.span_seconds, 3),
            "total_seconds": round(self.total_seconds, 3),
            "enqueue_per_second": round(self.count / self.enqueue_seconds, 1),
        }


async def opsapi_run(target: Target, setup: Setup, args: argparse.Namespace) -> Run:
    run = await throughput(
        target,
        int(setup.worker_args[0]),
        args.n,
        batch_size=args.batch_size,
        timeout=args.timeout,
        log_path=RESULTS / "worker-peers-opsapi.log.tmp",
    )
    return Run(args.n, run.enqueued.seconds, run.span_seconds, run.total_seconds)


async def peer_run(system: JobSystem, setup: Setup, args: argparse.Namespace) -> Run:
    await system.reset()
    started = time.perf_counter()
    for first in range(0, args.n, args.batch_size):
        await system.enqueue_batch(min(args.batch_size, args.n - first))
    enqueue_seconds = time.perf_counter() - started
    await system.analyze()
    log_path = RESULTS / f"worker-peers-{setup.engine}.log.tmp"
    async with child_process(system.worker_command(setup.worker_args), {}, log_path) as proc:
        _first, total = await wait_until_done(system.progress, proc, args.n, args.timeout, log_path)
    return Run(args.n, enqueue_seconds, await system.completion_span(), total)


async def enqueue_latencies(enqueue: Callable[[], Awaitable[object]], samples: int) -> list[float]:
    """Seconds per single enqueue, each its own round trip."""
    latencies = []
    for _ in range(samples):
        started = time.perf_counter()
        await enqueue()
        latencies.append(time.perf_counter() - started)
    return latencies


# -- the whole comparison -------------------------------------------------------------


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    url = database.bench_database_url(args.database_url)
    name = make_url(url).database
    target = await prepare(url)
    systems: dict[str, JobSystem] = {}
    try:
        machine = report.machine_info(await database.server_version(target.engine))
        for engine, system_class in PEER_SYSTEMS.items():
            peer_url = database.named(url, f"{name}_{engine}")
            await database.create_empty(peer_url)
            systems[engine] = await system_class.open(libpq_dsn(peer_url))
        await create_latencies(target, WARM_UP)  # connections and prepared statements
        enqueue = {
            "opsapi": report.latency_summary(await create_latencies(target, args.enqueue_samples))
        }
        for engine, system in systems.items():
            await system.reset()
            await enqueue_latencies(system.enqueue_one, WARM_UP)
            latencies = await enqueue_latencies(system.enqueue_one, args.enqueue_samples)
            enqueue[engine] = report.latency_summary(latencies)
            print(f"{engine} enqueue p50 {enqueue[engine]['p50_ms']:.2f} ms", flush=True)
        all_setups = setups(args.concurrency, args.opsapi_wide, args.pgqueuer_limits)
        runs: dict[int, list[Run]] = {index: [] for index in range(len(all_setups))}
        # Rounds over every setup, so that other load on the machine weighs on all alike.
        for _round in range(args.repeat):
            for index, setup in enumerate(all_setups):
                if setup.engine == "opsapi":
                    run = await opsapi_run(target, setup, args)
                else:
                    run = await peer_run(systems[setup.engine], setup, args)
                runs[index].append(run)
                print(
                    f"{setup.engine} {setup.label}: {run.record()['per_second']:,.0f}/s",
                    flush=True,
                )
    finally:
        await target.engine.dispose()
        for system in systems.values():
            await system.close()
    return {
        "benchmark": "peers",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine,
        "n": args.n,
        "batch_size": args.batch_size,
        "versions": {engine: s.version for engine, s in systems.items()},
        "throughput": [
            _throughput_record(setup, runs[index]) for index, setup in enumerate(all_setups)
        ],
        "enqueue_latency": enqueue,
    }


def _throughput_record(setup: Setup, runs: list[Run]) -> dict[str, Any]:
    records = sorted((run.record() for run in runs), key=lambda r: r["per_second"])
    return {
        "engine": setup.engine,
        "setup": setup.label,
        **records[(len(records) - 1) // 2],
        "runs": records,
    }


# -- output ---------------------------------------------------------------------------


def draw(results: dict[str, Any], folder: Path) -> list[Path]:
    """The throughput and enqueue-latency plots of ``results``."""
    note = plots.machine_note(results["machine"])
    rows = results["throughput"]
    throughput_png, enqueue_png = folder / "peers-throughput.png", folder / "peers-enqueue.png"
    plots.horizontal_bars(
        throughput_png,
        title=f"No-op jobs per second, one worker process ({results['n']:,} jobs)",
        labels=[f"{r['engine']}, {r['setup']}" for r in rows],
        values=[r["per_second"] for r in rows],
        colours=[plots.colour(r["engine"]) for r in rows],
        xlabel="jobs completed per second (first to last completion)",
        footnote=note,
    )
    latency = results["enqueue_latency"]
    plots.grouped_bars(
        enqueue_png,
        title="Enqueue latency, one job per round trip",
        groups=list(latency),
        series={q: [latency[e][f"{q}_ms"] for e in latency] for q in ("p50", "p99")},
        ylabel="milliseconds",
        footnote=note,
    )
    return [throughput_png, enqueue_png]


def render(results: dict[str, Any]) -> str:
    m = results["machine"]
    rows = results["throughput"]
    verdict = _goal(rows)
    versions = ", ".join(f"{k} {v}" for k, v in results["versions"].items())
    lines = [
        "## Engine throughput beside the peers",
        "",
        f"Measured {results['measured_at'][:16].replace('T', ' ')} UTC at commit "
        f"`{m['commit']}` on {m['nproc']} cores ({m['cpu']}), {m['memory_gib']} GiB of memory, "
        f"load average before the run {m['load_average'][0]:g}; PostgreSQL {m['postgresql']}, "
        f"Python {m['python']}, {versions}. Every job system ran in the same invocation on the "
        f"same server, each in a database of its own. Command:",
        "",
        "```sh",
        results["command"],
        "```",
        "",
        f"The same no-op job, {results['n']:,} of them enqueued in batches of "
        f"{results['batch_size']} before one worker process starts; the rate is the count over "
        "the time from the first to the last completion recorded by the database (with "
        "start-up: from starting the worker until a poll every 100 ms sees all done).",
        "",
        "| job system | worker setup | jobs/s | with start-up | runs | enqueued/s (batches) |",
        "|---|---|---|---|---|---|",
        *[
            f"| {r['engine']} | {r['setup']} | {r['per_second']:,.0f} | "
            f"{r['per_second_total']:,.0f} | "
            + ", ".join(f"{x['per_second']:,.0f}" for x in r["runs"])
            + f" | {r['enqueue_per_second']:,.0f} |"
            for r in rows
        ],
        "",
        f"Goal, opsapi at least pgqueuer's default batching in the same run: {verdict}.",
        "",
        "![throughput](../bench/results/peers-throughput.png)",
        "",
        "Enqueue latency, one job per round trip (opsapi: one transaction through "
        "`service.create_operation`, as a feature creates an operation; procrastinate: "
        "`defer_async`; pgqueuer: `Queries.enqueue`):",
        "",
        "| job system | p50 ms | p99 ms | max ms | samples |",
        "|---|---|---|---|---|",
        *[
            f"| {engine} | {s['p50_ms']:.2f} | {s['p99_ms']:.2f} | {s['max_ms']:.2f} | "
            f"{s['count']} |"
            for engine, s in results["enqueue_latency"].items()
        ],
        "",
        "![enqueue latency](../bench/results/peers-enqueue.png)",
        "",
        "What the setups mean: opsapi's `--concurrency` is the handlers a worker runs at once "
        "(it claims as many operations as it has free slots, with a lease each, fenced "
        "outcomes and an event per change); procrastinate's `concurrency` is the same; "
        "pgqueuer's default fetches batches of 10 with no limit on jobs in flight, and "
        "`limit N` is the entrypoint's `concurrency_limit`. Like for like, opsapi at "
        "concurrency 10 compares with pgqueuer's limit 10, and opsapi at a high concurrency "
        "(the last opsapi row) with pgqueuer's default. pgqueuer at limit 1 is left out: it "
        "dispatches one job per poll of its queue (about 10/s here), so 20,000 jobs would "
        "take half an hour. Raw figures: `bench/results/peers.json`.",
    ]
    return "\n".join(lines)


def _goal(rows: list[dict[str, Any]]) -> str:
    """Whether opsapi reached pgqueuer's default batching in this run, said both ways."""
    pgqueuer = [r["per_second"] for r in rows if r["setup"] == "default batching"]
    ours = [r for r in rows if r["engine"] == "opsapi"]
    if not pgqueuer or not ours:
        return "not measured"
    target = pgqueuer[0]
    best = max(ours, key=lambda r: r["per_second"])
    c10 = next((r for r in ours if r["setup"] == "concurrency 10"), best)
    met = best["per_second"] >= target
    return (
        f"{'met' if met else '**not met**'}. pgqueuer's default: {target:,.0f}/s; opsapi's "
        f"best, {best['setup']}: {best['per_second']:,.0f}/s ({best['per_second'] / target:.0%}); "
        f"opsapi at concurrency 10: {c10['per_second']:,.0f}/s ({c10['per_second'] / target:.0%})"
    )


def main(argv: list[str]) -> None:
    report.run_harness("peers", argv, parse_args(argv), measure, draw, render)


if __name__ == "__main__":
    main(sys.argv[1:])
