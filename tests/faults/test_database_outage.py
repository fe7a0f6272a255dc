"""The database stops under load and starts again: real API and worker processes on a
private PostgreSQL cluster (the shared test server is never stopped).

While it is away every answer is a 503 problem+json with Retry-After (never a 500,
never a hang), /readyz says not ready and /healthz stays alive. When it is back the
processes recover on their own, and every operation that was answered 202 completes.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Literal

import httpx
import pytest
from sqlalchemy import text

from backend.auth import service as auth
from backend.auth.models import Role
from backend.config import Settings
from backend.db import create_engine, create_sessionmaker
from backend.migrate import upgrade
from tests.factories import ApiServer, api_server, spawn, worker_processes
from tests.faults.cluster import PrivateCluster, StopMode, private_cluster
from tests.faults.load import Answer, Load

# Settings of both processes: short bounds on waiting for the database, documents
# stored in the test's folder, no upload quota.
SETTINGS = {
    "OPSAPI_DATABASE__POOL_TIMEOUT": "3",
    "OPSAPI_DATABASE__CONNECT_TIMEOUT": "2",
    "OPSAPI_DATABASE__COMMAND_TIMEOUT": "3",
    "OPSAPI_DOCUMENTS__FSYNC": "false",
    "OPSAPI_DOCUMENTS__MONTHLY_UPLOAD_QUOTA": "0",
}


@pytest.fixture
async def cluster() -> AsyncIterator[PrivateCluster]:
    async with private_cluster() as started:
        await asyncio.to_thread(upgrade, started.url)
        yield started


async def issue_key(url: str) -> str:
    engine = create_engine(url, Settings(database_url=url))
    try:
        async with create_sessionmaker(engine)() as session:
            tenant = await auth.create_tenant(session, "outage")
            issued = await auth.create_key(session, tenant, role=Role.member)
            await session.commit()
            return issued.key
    finally:
        await engine.dispose()


async def probe(server: ApiServer, path: str) -> int:
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        return (await client.get(path)).status_code


Check = Callable[[], Awaitable[bool] | bool]


async def until(check: Check, what: str, timeout: float = 60.0) -> None:
    """Poll ``check`` until it is true (a test helper, not a timing claim)."""
    try:
        async with asyncio.timeout(timeout):
            while True:
                answer = check()
                if await answer if inspect.isawaitable(answer) else answer:
                    return
                await asyncio.sleep(0.1)
    except TimeoutError:
        raise AssertionError(f"not {what} after {timeout}s") from None


def unacceptable(answers: list[Answer]) -> list[Answer]:
    """Answers that are neither a success nor the outage's 503 problem."""
    return [a for a in answers if not (a.succeeded or a.is_outage_problem)]


# How the database goes away: pg_ctl stop in one of its modes, or every server
# process stopped by SIGSTOP (it answers nothing, as a hung host or a partition).
Outage = StopMode | Literal["frozen"]
OUTAGES: list[Outage] = ["immediate", "fast", "frozen"]


async def outage(cluster: PrivateCluster, server: ApiServer, load: Load, how: Outage) -> None:
    """Take the database away under load, check the answers while it is away, bring
    it back and wait until the API answers again on its own."""
    loop = asyncio.get_running_loop()
    if how == "frozen":
        await asyncio.to_thread(cluster.freeze)
    else:
        await asyncio.to_thread(cluster.stop, how)
    stopped_at = loop.time()
    await until(lambda: _is(server, "/readyz", 503), "not ready")
    assert await probe(server, "/healthz") == 200
    # Under load for a while with the database away.
    await until(lambda: _outage_answers(load, stopped_at) >= 12, "answered during the outage")

    await asyncio.to_thread(cluster.thaw if how == "frozen" else cluster.start)
    await until(lambda: _is(server, "/readyz", 200), "ready again")
    recovered_at = loop.time()
    await until(lambda: _successes(load, recovered_at) >= 20, "serving again")


async def _is(server: ApiServer, path: str, status: int) -> bool:
    return await probe(server, path) == status


def _outage_answers(load: Load, moment: float) -> int:
    return sum(1 for a in load.since(moment) if a.is_outage_problem)


def _successes(load: Load, moment: float) -> int:
    return sum(1 for a in load.since(moment) if a.succeeded)


@pytest.mark.timeout(240)
async def test_a_database_outage_answers_503_and_loses_no_accepted_operation(
    cluster: PrivateCluster, tmp_path: Path
) -> None:
    key = await issue_key(cluster.url)
    env = {**SETTINGS, "OPSAPI_DOCUMENTS__STORAGE_PATH": str(tmp_path / "documents")}
    async with (
        api_server(cluster.url, **env) as server,
        worker_processes(cluster.url) as started,
    ):
        worker = await spawn(started, cluster.url, env=env, concurrency=8)
        load = Load(server.url, key)
        async with load.running():
            await until(lambda: _successes(load, 0.0) >= 20, "serving")
            for how in OUTAGES:
                await outage(cluster, server, load, how)
        assert worker.process.returncode is None, worker.log

        bad = unacceptable(load.answers)
        assert bad == [], bad[:10]
        assert len(load.accepted) > 0
        await until(lambda: _all_finished(cluster.url, load.accepted), "all finished", 90)
        counts = await _statuses(cluster.url, load.accepted)
        assert counts == {"completed": len(load.accepted)}, counts


async def _statuses(url: str, ids: list[str]) -> dict[str, int]:
    engine = create_engine(url, Settings(database_url=url))
    try:
        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    text(
                        "SELECT status, count(*) AS n FROM operations"
                        " WHERE id = ANY(CAST(:ids AS uuid[])) GROUP BY status"
                    ),
                    {"ids": ids},
                )
            ).all()
    finally:
        await engine.dispose()
    counts = {row.status: row.n for row in rows}
    missing = len(ids) - sum(counts.values())
    if missing:
        counts["missing"] = missing
    return counts


async def _all_finished(url: str, ids: list[str]) -> bool:
    counts = await _statuses(url, ids)
    return not ({"pending", "processing"} & counts.keys())
