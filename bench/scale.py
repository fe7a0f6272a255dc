"""Scale benchmark: the engine and the API's reads with a million finished operations.

    .venv/bin/python -m bench.scale \\
        --database-url postgresql://postgres@127.0.0.1:5432/opsapi_bench_scale

With 1,000,000 finished and 10,000 pending operations in the table it measures, in
this process at the database layer: the claim rate (against the same 10,000 pending
in an otherwise empty table), ``GET /operations/{id}`` (``service.get_operation``)
and a filtered list page (``service.list_operations``) latencies, and the time the
maintenance leader's pruning takes to delete the million once they expire.

The database named in the URL is dropped and recreated, and so is one beside it
(``<name>_empty``, dropped at the end) for the empty-table claim rate. Results go to
``bench/results/scale.json`` and to the scale section of ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shlex
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from backend.config import Settings
from backend.db import asyncpg_url, create_engine, create_sessionmaker
from backend.operations import claims, maintenance, service
from backend.operations.states import Status
from bench import scale_data, scale_report

ROOT = Path(__file__).resolve().parent.parent
Sessions = async_sessionmaker[AsyncSession]


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__)
    parser.add_argument(
        "--database-url",
        default="postgresql://postgres@127.0.0.1:5432/opsapi_bench_scale",
        help="Server and database the bench may drop and recreate.",
    )
    parser.add_argument("--finished", type=int, default=1_000_000, help="Finished operations.")
    parser.add_argument("--pending", type=int, default=10_000, help="Pending operations.")
    parser.add_argument("--claim-limit", type=int, default=10, help="Operations per claim.")
    parser.add_argument("--claim-runs", type=int, default=5, help="Claim runs per table.")
    parser.add_argument("--samples", type=int, default=2000, help="Reads timed per kind.")
    parser.add_argument("--prune-batch", type=int, default=1000, help="Rows per prune step.")
    parser.add_argument(
        "--output", type=Path, default=ROOT / "bench/results/scale.json", help="JSON results."
    )
    parser.add_argument("--no-docs", action="store_true", help="Leave docs/benchmarks.md alone.")
    return parser.parse_args(argv)


async def claim_rate(engine: AsyncEngine, tenant: uuid.UUID, args: argparse.Namespace) -> float:
    """Pending operations claimed per second by one claimer taking ``claim_limit`` at a
    time, each claim its own transaction, as a worker does."""
    await scale_data.insert_pending(engine, tenant, args.pending)
    await scale_data.vacuum_analyze(engine)
    claimed = 0
    started = time.perf_counter()
    while True:
        async with engine.begin() as conn:
            got = await claims.claim_batch(
                conn,
                owner="bench",
                queues=["default"],
                kinds=list(scale_data.KINDS),
                limit=args.claim_limit,
                lease_seconds=300,
            )
        if not got:
            break
        claimed += len(got)
    rate = claimed / (time.perf_counter() - started)
    await scale_data.delete_claimed(engine)
    return rate


async def claim_rates(
    empty: tuple[AsyncEngine, uuid.UUID],
    large: tuple[AsyncEngine, uuid.UUID],
    args: argparse.Namespace,
) -> dict[str, float]:
    """Median claim rates of the empty and the large table, measured alternately so
    that whatever else the machine does weighs on both alike."""
    rates: dict[str, list[float]] = {"empty": [], "large": []}
    for _ in range(args.claim_runs):
        for name, (engine, tenant) in (("empty", empty), ("large", large)):
            rates[name].append(await claim_rate(engine, tenant, args))
        print(
            f"claim run: {rates['empty'][-1]:,.0f}/s alone, "
            f"{rates['large'][-1]:,.0f}/s with the finished",
            flush=True,
        )
    return {name: statistics.median(values) for name, values in rates.items()}


async def timed(samples: list[Any], call: Callable[[Any], Awaitable[object]]) -> list[float]:
    latencies = []
    for sample in samples:
        started = time.perf_counter()
        await call(sample)
        latencies.append(time.perf_counter() - started)
    return latencies


async def read_latencies(
    engine: AsyncEngine,
    sessions: Sessions,
    tenant: uuid.UUID,
    batches: list[uuid.UUID],
    samples: int,
) -> dict[str, list[float]]:
    """Each read in a session of its own, as one API request has (pool checkout with
    its ping, the query, the closing rollback); GET also as the query alone."""
    finished = await scale_data.sample_ids(engine, "completed", samples)
    pending = await scale_data.sample_ids(engine, "pending", samples // 10)
    ids = finished[: samples - len(pending)] + pending
    random.shuffle(ids)

    async def get(op_id: uuid.UUID) -> None:
        async with sessions() as session:
            await service.get_operation(session, tenant, op_id)

    async def get_queries() -> list[float]:
        """The query alone: in one open session, a fresh transaction for each."""
        latencies = []
        async with sessions() as session:
            for op_id in ids:
                started = time.perf_counter()
                await service.get_operation(session, tenant, op_id)
                latencies.append(time.perf_counter() - started)
                await session.rollback()
        return latencies

    async def page(filters: service.ListFilters, start: uuid.UUID | None) -> None:
        token = service.encode_page_token(start) if start is not None else None
        async with sessions() as session:
            ops, _ = await service.list_operations(
                session, tenant, filters, page_size=20, page_token=token
            )
        assert ops, "an empty page measures nothing"

    by_kind = service.ListFilters(statuses=[Status.completed], kind=scale_data.KINDS[1])
    starts: list[uuid.UUID | None] = [None, *finished[: samples - 1]]

    await timed(ids[:100], get)  # warm the pool and the caches
    return {
        "get_query": await get_queries(),
        "get": await timed(ids, get),
        "list_kind_status": await timed(starts, lambda s: page(by_kind, s)),
        "list_batch": await timed(
            [random.choice(batches) for _ in range(samples)],
            lambda b: page(service.ListFilters(statuses=[], batch_id=b), None),
        ),
    }


async def prune_time(engine: AsyncEngine, batch: int) -> dict[str, float]:
    """Expire every finished operation, then prune as the leader does: bounded steps,
    each its own transaction, until a step deletes fewer than a full batch."""
    expired = await scale_data.expire_finished(engine)
    await scale_data.vacuum_analyze(engine)
    pruned = batches = 0
    started = time.perf_counter()
    while True:
        async with engine.begin() as conn:
            step = await maintenance.prune_expired(conn, limit=batch)
        pruned += step.operations
        batches += step.batches
        if step.operations < batch:
            break
    seconds = time.perf_counter() - started
    return {
        "expired": expired,
        "pruned": pruned,
        "batches_pruned": batches,
        "seconds": round(seconds, 2),
        "rows_per_second": round(pruned / seconds),
    }


async def run(args: argparse.Namespace, command: str) -> dict[str, Any]:
    url = asyncpg_url(args.database_url).render_as_string(hide_password=False)
    empty_url = scale_data.empty_table_url(url)
    engines = []
    try:
        for database in (url, empty_url):
            await scale_data.recreate(database)
            engines.append(create_engine(database, Settings(database_url=database)))
        engine, empty_engine = engines
        sessions = create_sessionmaker(engine)
        tenant = await scale_data.create_tenant(engine)
        empty_tenant = await scale_data.create_tenant(empty_engine)
        version = await scale_data.server_version(engine)

        started = time.perf_counter()
        batches = await scale_data.insert_finished(engine, tenant, args.finished)
        generated = time.perf_counter() - started
        print(f"{args.finished:,} finished operations inserted in {generated:.1f} s", flush=True)
        await scale_data.vacuum_analyze(engine, everything=True)

        rates = await claim_rates((empty_engine, empty_tenant), (engine, tenant), args)
        print(f"claim: {rates['empty']:,.0f}/s alone, {rates['large']:,.0f}/s", flush=True)

        await scale_data.insert_pending(engine, tenant, args.pending)
        await scale_data.vacuum_analyze(engine)
        size = await scale_data.table_size(engine)
        reads = await read_latencies(engine, sessions, tenant, batches, args.samples)
        for name, values in reads.items():
            summary = scale_report.latency_summary(values)
            print(f"{name}: p50 {summary['p50_ms']} ms, p99 {summary['p99_ms']} ms", flush=True)

        pruning = await prune_time(engine, args.prune_batch)
        print(f"pruned {pruning['pruned']:,} in {pruning['seconds']} s", flush=True)
    finally:
        for created in engines:
            await created.dispose()
    await scale_data.drop(empty_url)
    return scale_report.build_results(
        command=command,
        postgres=version,
        args=vars(args),
        table=size,
        generated_seconds=generated,
        claim_rates=rates,
        reads=reads,
        pruning=pruning,
    )


def main(argv: list[str]) -> None:
    args = parse_args(argv)
    command = shlex.join([".venv/bin/python", "-m", "bench.scale", *argv])
    try:
        results = asyncio.run(run(args, command))
    except ValueError as exc:
        sys.exit(f"bench.scale: {exc}")
    scale_report.write_json(args.output, results)
    if not args.no_docs:
        scale_report.update_docs(ROOT / "docs/benchmarks.md", scale_report.render(results))


if __name__ == "__main__":
    main(sys.argv[1:])
