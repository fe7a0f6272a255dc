"""Workers SIGKILLed at random under load: 2,000 operations whose handlers ask a model
(the fake OpenAI-compatible server, 50-300 ms per answer, through the real SDK), three
worker processes, one killed every few seconds and replaced.

Every operation completes; no attempt ran twice (each start of an attempt is noted
as it happens); each operation's effect was written exactly once, by the attempt that
completed it; and each result is the one its input implies.
"""

from __future__ import annotations

import asyncio
import random
import re
import signal
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.operations.models import Operation
from backend.operations.registry import Registry
from tests.conftest import ApiCaller
from tests.factories import (
    WorkerProcess,
    count_by_status,
    spawn,
    submit_many,
    worker_processes,
)
from tests.fakes.openai_server import FakeOpenAI, Reply, serving
from tests.faults import kinds

OPERATIONS = 2_000
WORKERS = 3
CONCURRENCY = 40
MARKER = re.compile(r"marker-\d+")


def answer_about_the_marker(body: dict[str, Any]) -> Reply:
    """The model's answer names the marker it was asked about, after 50-300 ms."""
    asked = " ".join(str(m.get("content")) for m in body["messages"])
    found = MARKER.search(asked)
    marker = found.group(0) if found else "no marker"
    return Reply.json(
        {
            "summary": kinds.summary_of(marker),
            "strengths": [],
            "improvements": [],
            "themes": [],
            "sentiment": "mixed",
        },
        delay=random.uniform(0.05, 0.3),
    )


@pytest.fixture
async def model_url() -> AsyncIterator[str]:
    fake = FakeOpenAI()
    fake.respond = answer_about_the_marker
    async with serving(fake) as url:
        yield url


def worker_settings(model_url: str) -> dict[str, str]:
    return {
        "OPSAPI_HANDLER_MODULES": '["tests.faults.kinds"]',
        "OPSAPI_LLM__PROVIDER": "openai",
        "OPSAPI_LLM__API_KEY": "sk-test-not-a-real-key",
        "OPSAPI_LLM__BASE_URL": model_url,
        "OPSAPI_LLM__MODEL": "fake-model",
        "OPSAPI_LLM__MAX_CONCURRENCY": str(CONCURRENCY),
        "OPSAPI_LLM__TIMEOUT": "20",
        "OPSAPI_DATABASE__POOL_SIZE": "5",
    }


async def start_worker(
    started: list[WorkerProcess], database_url: str, env: dict[str, str]
) -> WorkerProcess:
    # Started while the others keep the machine busy: give it time to import and connect.
    return await spawn(
        started,
        database_url,
        "--kinds",
        kinds.KIND,
        env=env,
        ready_within=60,
        concurrency=CONCURRENCY,
    )


async def runs(session: AsyncSession, table: str) -> list[tuple[uuid.UUID, int]]:
    """(operation id, attempt) of each row of ``table``."""
    rows = (await session.execute(text(f"SELECT operation_id, attempt FROM {table}"))).all()
    return [(row.operation_id, row.attempt) for row in rows]


# Besides every 1.5-3 s, a worker is killed as these shares of the operations are
# done, so that a machine fast enough to finish in seconds still sees several kills.
MILESTONES = (0.15, 0.35, 0.55, 0.75)


async def kill_until_done(
    sessionmaker: async_sessionmaker[AsyncSession],
    live: list[WorkerProcess],
    replacement: Callable[[], Awaitable[WorkerProcess]],
) -> int:
    """SIGKILL a random worker every few seconds or at the next milestone, whichever
    comes first, and start its replacement, until every operation is completed.
    Answers how many were killed."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 150
    next_kill = loop.time() + random.uniform(1.5, 3.0)
    milestones = [int(share * OPERATIONS) for share in MILESTONES]
    kills = 0
    while (completed := (await count_by_status(sessionmaker)).get("completed", 0)) < OPERATIONS:
        assert loop.time() < deadline, await count_by_status(sessionmaker)
        if loop.time() >= next_kill or (milestones and completed >= milestones[0]):
            victim = live.pop(random.randrange(len(live)))
            victim.send(signal.SIGKILL)
            assert await victim.wait_exit() == -signal.SIGKILL
            kills += 1
            # One worker down at a time: the next kill waits for the replacement.
            live.append(await replacement())
            next_kill = loop.time() + random.uniform(1.5, 3.0)
            milestones = [m for m in milestones if m > completed]
        await asyncio.sleep(0.1)
    return kills


@pytest.mark.timeout(240)
async def test_workers_killed_at_random_lose_nothing_and_run_no_attempt_twice(
    sessionmaker: async_sessionmaker[AsyncSession],
    caller: ApiCaller,
    database_url: str,
    model_url: str,
) -> None:
    registry = Registry()
    kinds.register(registry)
    async with sessionmaker() as session:
        for table in kinds.TABLES:
            await session.execute(text(table))
        await session.commit()
    env = worker_settings(model_url)

    async with worker_processes(database_url) as started:
        live = [await start_worker(started, database_url, env) for _ in range(WORKERS)]
        ids = await submit_many(
            sessionmaker,
            registry,
            caller,
            kinds.KIND,
            OPERATIONS,
            params_of=lambda i: {"marker": f"marker-{i}"},
        )
        kills = await kill_until_done(
            sessionmaker, live, lambda: start_worker(started, database_url, env)
        )

    async with sessionmaker() as session:
        ops = (await session.scalars(select(Operation).where(Operation.id.in_(ids)))).all()
        starts = await runs(session, "fault_starts")
        effects = await runs(session, "fault_effects")

    assert kills >= 2
    assert Counter(op.status for op in ops) == {"completed": OPERATIONS}
    # Some operations were caught by a kill and rescued, or the kills proved nothing.
    assert any(op.attempt > 1 for op in ops)
    twice = [run for run, n in Counter(starts).items() if n > 1]
    assert twice == [], f"attempts started twice: {twice[:10]}"
    assert sorted(effects) == sorted((op.id, op.attempt) for op in ops)
    marker_of = {op_id: f"marker-{i}" for i, op_id in enumerate(ids)}
    wrong = [
        op.id
        for op in ops
        if op.result != {"marker": marker_of[op.id], "summary": kinds.summary_of(marker_of[op.id])}
    ]
    assert wrong == []
