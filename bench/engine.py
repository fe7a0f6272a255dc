"""Engine benchmark: enqueue rate, worker throughput and pickup latency of no-op operations.

    .venv/bin/python -m bench.engine \\
        --database-url postgresql://postgres@127.0.0.1:5432/opsapi_bench --n 20000

The database named in the URL is dropped, recreated and migrated (without a URL:
``opsapi_bench`` on the server of ``OPSAPI_DATABASE_URL``, else of the embedded
PostgreSQL). Results go to ``bench/results/engine.json`` and to the engine section
of ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shlex
import sys
from pathlib import Path

from backend.config import Settings
from backend.db import create_engine, create_sessionmaker
from backend.operations.registry import Registry
from bench import database, kinds, report
from bench.measure import (
    PickupRun,
    Target,
    ThroughputRun,
    create_latencies,
    pickup,
    throughput,
)

ROOT = Path(__file__).resolve().parent.parent


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.engine", description=__doc__)
    parser.add_argument("--database-url", help="Server and database the bench may recreate.")
    parser.add_argument("--n", type=int, default=20_000, help="Operations per throughput run.")
    parser.add_argument("--batch-size", type=int, default=500, help="Operations per enqueue.")
    parser.add_argument(
        "--concurrency", type=int, nargs="+", default=[1, 10], help="Worker concurrencies."
    )
    parser.add_argument(
        "--create-samples", type=int, default=1000, help="One-operation transactions timed."
    )
    parser.add_argument("--pickup-samples", type=int, default=500, help="Pickups timed.")
    parser.add_argument("--pickup-interval", type=float, default=0.01, help="Seconds apart.")
    parser.add_argument(
        "--pickup-concurrency", type=int, default=10, help="Concurrency of the idle worker."
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="Throughput runs per concurrency (median kept)."
    )
    parser.add_argument("--timeout", type=float, default=600.0, help="Seconds per run, at most.")
    parser.add_argument(
        "--cprofile", type=Path, help="Folder for cProfile output of each throughput worker."
    )
    parser.add_argument(
        "--output", type=Path, default=ROOT / "bench/results/engine.json", help="JSON results."
    )
    parser.add_argument("--no-docs", action="store_true", help="Leave docs/benchmarks.md alone.")
    parser.add_argument(
        "--earlier",
        type=Path,
        action="append",
        default=[],
        help="Results JSON of an earlier invocation, listed beside this one (repeatable).",
    )
    parser.add_argument(
        "--render-only",
        action="store_true",
        help="Measure nothing: rewrite the docs section from the --output JSON "
        "(adding the --earlier invocations to it).",
    )
    return parser.parse_args(argv)


def bench_registry() -> Registry:
    registry = Registry()
    kinds.register(registry)
    return registry


async def prepare(url: str) -> Target:
    """Recreate and migrate the bench database; answer where to create operations."""
    await database.recreate(url)
    settings = Settings(database_url=url)
    engine = create_engine(url, settings)
    sessionmaker = create_sessionmaker(engine)
    tenant_id = await database.create_tenant(sessionmaker)
    return Target(
        engine=engine,
        sessionmaker=sessionmaker,
        registry=bench_registry(),
        tenant_id=tenant_id,
        url=url,
    )


def _log_path(args: argparse.Namespace, name: str) -> Path:
    """Where a worker's output goes (ignored by git; read it when a run fails)."""
    output: Path = args.output
    return output.parent / f"{name}.log.tmp"


async def run_throughput(args: argparse.Namespace, target: Target) -> list[list[ThroughputRun]]:
    """``--repeat`` runs per concurrency: the machine's other work makes single runs noisy."""
    groups = []
    for concurrency in args.concurrency:
        runs = []
        for attempt in range(args.repeat):
            runs.append(await _one_run(args, target, concurrency, attempt))
        groups.append(runs)
    return groups


async def _one_run(
    args: argparse.Namespace, target: Target, concurrency: int, attempt: int
) -> ThroughputRun:
    profile = None
    if args.cprofile is not None:
        args.cprofile.mkdir(parents=True, exist_ok=True)
        profile = args.cprofile / f"worker-c{concurrency}-{attempt + 1}.prof"
    run = await throughput(
        target,
        concurrency,
        args.n,
        batch_size=args.batch_size,
        timeout=args.timeout,
        log_path=_log_path(args, f"worker-c{concurrency}"),
        cprofile=profile,
    )
    print(
        f"concurrency {concurrency}, run {attempt + 1}: {run.per_second:,.0f} ops/s "
        f"({run.per_second_total:,.0f}/s with start-up); "
        f"enqueue {run.enqueued.per_second:,.0f} ops/s",
        flush=True,
    )
    return run


async def run_pickup(args: argparse.Namespace, target: Target) -> PickupRun | None:
    if args.pickup_samples <= 0:
        return None
    run = await pickup(
        target,
        args.pickup_samples,
        concurrency=args.pickup_concurrency,
        interval=args.pickup_interval,
        timeout=args.timeout,
        log_path=_log_path(args, "worker-pickup"),
    )
    summary = report.latency_summary(run.latencies)
    print(f"pickup: p50 {summary['p50_ms']:.2f} ms, p99 {summary['p99_ms']:.2f} ms", flush=True)
    return run


async def run(args: argparse.Namespace, command: str) -> None:
    url = database.bench_database_url(args.database_url)
    target = await prepare(url)
    try:
        # Read before the bench adds its own load: the load average shows other work.
        machine = report.machine_info(await database.server_version(target.engine))
        latencies = await create_latencies(target, args.create_samples)
        if latencies:
            summary = report.latency_summary(latencies)
            print(
                f"create: p50 {summary['p50_ms']:.2f} ms, p99 {summary['p99_ms']:.2f} ms",
                flush=True,
            )
        runs = await run_throughput(args, target)
        picked = await run_pickup(args, target)
        results = report.build_results(
            command=command,
            machine=machine,
            create_latencies=latencies,
            runs=runs,
            pickup=picked,
        )
        results["earlier"] = _earlier(args)
    finally:
        await target.engine.dispose()
    report.write_json(args.output, results)
    if not args.no_docs:
        report.update_docs(ROOT / "docs/benchmarks.md", report.render_section(results))


def _earlier(args: argparse.Namespace) -> list[dict[str, object]]:
    return [report.invocation_summary(json.loads(path.read_text())) for path in args.earlier]


def render_only(args: argparse.Namespace) -> None:
    """Regenerate the engine section of docs/benchmarks.md from a results file."""
    output: Path = args.output
    results = json.loads(output.read_text())
    if args.earlier:
        results["earlier"] = _earlier(args)
        report.write_json(output, results)
    report.update_docs(ROOT / "docs/benchmarks.md", report.render_section(results))


def main(argv: list[str]) -> None:
    args = parse_args(argv)
    if args.render_only:
        render_only(args)
        return
    command = shlex.join([".venv/bin/python", "-m", "bench.engine", *argv])
    try:
        asyncio.run(run(args, command))
    except (database.UnsafeDatabase, RuntimeError) as exc:
        sys.exit(f"bench.engine: {exc}")


if __name__ == "__main__":
    main(sys.argv[1:])
