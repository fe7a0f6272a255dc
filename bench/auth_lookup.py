"""What the failed-authentication limit costs a successful request: the API-key lookup
every authenticated request makes, with and without its probe of ``auth_failures``,
with that table empty and full.

    .venv/bin/python -m bench.auth_lookup \\
        --database-url postgresql://postgres@127.0.0.1:5432/opsapi_bench_auth

One connection runs ``--n`` lookups of a valid key per variant, in turns (so drift in
the machine's load falls on both alike): the statement as served (``CALLER_BY_KEY``,
with the ``NOT EXISTS`` probe of the client's IP and the key) and the same statement
without the probe, first with ``auth_failures`` empty, then holding ``--failures``
counters of other clients. The database named in the URL is dropped and
recreated. Prints the latency per lookup (median and 99th percentile, µs) as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from backend.auth import service as auth
from backend.auth.failures import BLOCKED, Attempt, client_subject, credential_subject
from backend.config import Settings
from backend.db import create_engine, create_sessionmaker
from bench.database import bench_database_url, recreate

WITHOUT_PROBE = auth.CALLER_BY_KEY.replace(f"AND NOT {BLOCKED}", "")


async def lookups(
    conn: AsyncConnection, statement: str, params: dict[str, Any], n: int
) -> list[float]:
    """Seconds per lookup, ``n`` times."""
    prepared = text(statement)
    took = []
    for _ in range(n):
        started = time.perf_counter()
        row = (await conn.execute(prepared, params)).first()
        took.append(time.perf_counter() - started)
        assert row is not None
    return took


async def fill(conn: AsyncConnection, counters: int) -> None:
    """``counters`` failure counters of other clients, vacuumed and analyzed (as
    autovacuum would leave a table in steady use)."""
    await conn.execute(text("TRUNCATE auth_failures"))
    await conn.execute(
        text(
            "INSERT INTO auth_failures (subject, failures, window_started_at) "
            "SELECT 'ip:10.' || i, 3, now() FROM generate_series(1, :n) AS i"
        ),
        {"n": counters},
    )
    await conn.execute(text("VACUUM ANALYZE auth_failures"))


def summary(took: list[float]) -> dict[str, float]:
    us = sorted(t * 1e6 for t in took)
    return {
        "median_us": round(statistics.median(us), 1),
        "p99_us": round(us[int(len(us) * 0.99) - 1], 1),
    }


async def run(url: str, n: int, failures: int) -> dict[str, Any]:
    await recreate(url)
    settings = Settings(database_url=url)
    engine = create_engine(url, settings)
    try:
        async with create_sessionmaker(engine)() as session:
            tenant = await auth.create_tenant(session, "bench")
            issued = await auth.create_key(session, tenant)
            await session.commit()
        attempt = Attempt(
            client=client_subject("203.0.113.7"),
            credential=credential_subject("key", issued.key),
            max_failures=settings.auth.max_failures,
            window_seconds=settings.auth.failure_window_seconds,
        )
        params = auth.caller_by_key_params(issued.key, attempt)
        variants: dict[str, list[float]] = {}
        async with engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            for counters in (0, failures):
                await fill(conn, counters)
                served = f"with probe, {counters:,} counters"
                bare = f"without probe, {counters:,} counters"
                variants[served], variants[bare] = [], []
                for _ in range(10):  # in turns, n/10 each
                    variants[served] += await lookups(conn, auth.CALLER_BY_KEY, params, n // 10)
                    variants[bare] += await lookups(conn, WITHOUT_PROBE, params, n // 10)
        return {"n": n, **{name: summary(took) for name, took in variants.items()}}
    finally:
        await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--failures", type=int, default=100_000)
    args = parser.parse_args()
    url = bench_database_url(args.database_url)
    print(json.dumps(asyncio.run(run(url, args.n, args.failures)), indent=2))


if __name__ == "__main__":
    main()
