"""Identical requests share one generation; one person's generations run one at a
time while different people's run side by side."""

from __future__ import annotations

import asyncio
import uuid

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.config import Settings
from backend.operations.models import Operation
from backend.operations.registry import Registry
from tests.conftest import ApiCaller
from tests.factories import running_worker
from tests.fakes.openai_server import FakeOpenAI, Reply
from tests.features.api import wait_done
from tests.features.reports.data import NARRATIVE, Subject, subject


async def test_a_hundred_concurrent_requests_for_a_missing_report_make_one_model_call(
    client: httpx.AsyncClient,
    admin: ApiCaller,
    sam: Subject,
    sessionmaker: async_sessionmaker[AsyncSession],
    database_url: str,
    registry: Registry,
    model_settings: Settings,
    fake: FakeOpenAI,
) -> None:
    await sam.review("2026-10-05", {"Communication": 4})
    fake.default = Reply.json(NARRATIVE)

    answers = await asyncio.gather(
        *(client.get(sam.path("2026-10"), headers=admin.headers) for _ in range(100))
    )
    async with sessionmaker() as session:
        ops = (await session.scalars(select(Operation.id))).all()
    async with running_worker(database_url, registry, model_settings):
        done = await wait_done(client, admin, answers[0].json()["id"])
        report = await client.get(sam.path("2026-10"), headers=admin.headers)

    assert {a.status_code for a in answers} == {202}
    assert {a.json()["id"] for a in answers} == {done["id"]}
    assert len(ops) == 1
    assert done["status"] == "completed"
    assert report.status_code == 200
    assert len(fake.requests) == 1


async def test_two_people_generate_side_by_side_while_one_persons_periods_take_turns(
    client: httpx.AsyncClient,
    admin: ApiCaller,
    sam: Subject,
    sessionmaker: async_sessionmaker[AsyncSession],
    database_url: str,
    registry: Registry,
    model_settings: Settings,
    fake: FakeOpenAI,
) -> None:
    alex = await subject(sessionmaker, admin.tenant_id, "Alex Kim")
    for person in (sam, alex):
        await person.review("2026-09-05", {"Communication": 4})
        await person.review("2026-10-05", {"Communication": 3})
    fake.default = Reply.json(NARRATIVE, delay=0.5)

    queued = [
        (await client.get(person.path(period), headers=admin.headers)).json()["id"]
        for person, period in ((sam, "2026-09"), (sam, "2026-10"), (alex, "2026-10"))
    ]
    async with running_worker(database_url, registry, model_settings):
        for op_id in queued:
            await wait_done(client, admin, op_id)
    async with sessionmaker() as session:
        rows = {
            op.id: op
            for op in await session.scalars(
                select(Operation).where(Operation.id.in_([uuid.UUID(i) for i in queued]))
            )
        }
    sam_september, sam_october, alex_october = (rows[uuid.UUID(i)] for i in queued)

    def overlap(a: Operation, b: Operation) -> bool:
        assert a.started_at and a.finished_at and b.started_at and b.finished_at
        return a.started_at < b.finished_at and b.started_at < a.finished_at

    assert {op.status for op in rows.values()} == {"completed"}
    assert not overlap(sam_september, sam_october)
    assert overlap(alex_october, sam_september) or overlap(alex_october, sam_october)
    assert fake.max_in_flight == 2
    assert len(fake.requests) == 3
