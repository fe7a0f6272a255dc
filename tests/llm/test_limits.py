"""Limits: a per-process cap on concurrent calls, and a token budget shared by all workers."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from backend.config import Settings
from backend.db import create_engine
from backend.llm import LlmClient
from backend.llm.base import LlmRequest
from backend.llm.client import DEFAULT_ANSWER_ESTIMATE
from backend.llm.limits import BudgetExhausted, TokenBudget
from backend.llm.tasks import FeedbackSummary
from backend.operations.models import Operation
from tests.conftest import ApiCaller
from tests.factories import running_worker, submit
from tests.fakes.openai_server import FakeOpenAI, Reply
from tests.llm.answers import SUMMARY, VARIABLES
from tests.llm.conftest import ClientFactory
from tests.llm.kinds import SUMMARY_KIND, llm_registry

# A pinned minute: the budget's window cannot roll over in the middle of a test.
MINUTE = datetime(2026, 11, 23, 10, 0, 15, tzinfo=UTC)


def pinned() -> datetime:
    return MINUTE


@pytest.mark.parametrize("cap", [2, 5])
async def test_no_more_calls_than_the_cap_are_in_flight_at_once(
    make_llm: ClientFactory, fake: FakeOpenAI, cap: int
) -> None:
    llm = make_llm(max_concurrency=cap)
    fake.default = Reply.json(SUMMARY)
    # Requests are held until `cap` are in flight, so the cap is reached, not just obeyed.
    fake.hold_until(cap)

    calls = [llm.generate("review_summary", VARIABLES, schema=FeedbackSummary) for _ in range(8)]
    await asyncio.gather(*calls)

    assert len(fake.requests) == 8
    assert fake.max_in_flight == cap


async def test_a_budget_admits_reservations_until_the_minute_is_spent(engine: AsyncEngine) -> None:
    budget = TokenBudget(engine, 1000, clock=pinned)

    first = await budget.reserve("fake-model", 400)
    await budget.reserve("fake-model", 400)
    with pytest.raises(BudgetExhausted) as caught:
        await budget.reserve("fake-model", 400)

    assert caught.value.code == "LLM_BUDGET_EXHAUSTED"
    assert caught.value.retryable
    # 45 seconds are left of the pinned minute, plus a little spread.
    assert 45 <= (caught.value.retry_after or 0) <= 47
    assert await budget.spent("fake-model", first.window_start) == 800


async def test_settling_a_reservation_gives_back_what_the_call_did_not_use(
    engine: AsyncEngine,
) -> None:
    budget = TokenBudget(engine, 1000, clock=pinned)

    first = await budget.reserve("fake-model", 600)
    await budget.settle(first, 150)
    await budget.reserve("fake-model", 600)

    assert await budget.spent("fake-model", first.window_start) == 750


async def test_each_model_and_each_minute_has_its_own_budget(engine: AsyncEngine) -> None:
    now = [MINUTE]
    budget = TokenBudget(engine, 500, clock=lambda: now[0])

    await budget.reserve("model-a", 500)
    await budget.reserve("model-b", 500)
    now[0] = MINUTE + timedelta(minutes=1)
    later = await budget.reserve("model-a", 500)

    assert later.window_start == datetime(2026, 11, 23, 10, 1, tzinfo=UTC)


async def test_minutes_long_past_are_pruned_when_a_new_minute_opens(engine: AsyncEngine) -> None:
    now = [MINUTE]
    budget = TokenBudget(engine, 500, clock=lambda: now[0])
    old = await budget.reserve("fake-model", 100)
    now[0] = MINUTE + timedelta(minutes=30)

    await budget.reserve("fake-model", 100)

    assert await budget.spent("fake-model", old.window_start) == 0


async def test_a_call_larger_than_the_whole_budget_still_runs_alone_in_its_minute(
    engine: AsyncEngine,
) -> None:
    budget = TokenBudget(engine, 100, clock=pinned)

    await budget.reserve("fake-model", 250)
    with pytest.raises(BudgetExhausted):
        await budget.reserve("fake-model", 1)


def estimated_call(llm: LlmClient) -> int:
    rendered = llm.prompts.get("review_summary").render(VARIABLES)
    request = LlmRequest(model="fake-model", messages=rendered.messages)
    return request.estimated_prompt_tokens() + DEFAULT_ANSWER_ESTIMATE


async def test_two_workers_share_one_budget_and_defer_what_does_not_fit(
    make_llm: ClientFactory,
    fake: FakeOpenAI,
    database_url: str,
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    caller: ApiCaller,
) -> None:
    engines = [create_engine(database_url, settings) for _ in range(2)]
    probe = make_llm()
    cost = estimated_call(probe)
    # Room for two calls in the minute, not three.
    limit = 2 * cost + 50
    budgets = [TokenBudget(engine, limit, clock=pinned) for engine in engines]
    clients = [make_llm(budget=budget, tokens_per_minute=limit) for budget in budgets]
    # Each call uses exactly its estimate, so settling changes nothing.
    fake.default = Reply.json(SUMMARY, prompt_tokens=cost - DEFAULT_ANSWER_ESTIMATE,
                              completion_tokens=DEFAULT_ANSWER_ESTIMATE)  # fmt: skip
    registries = [llm_registry(client) for client in clients]
    ids = [
        await submit(sessionmaker, registries[0], caller, SUMMARY_KIND, VARIABLES) for _ in range(5)
    ]

    try:
        async with (
            running_worker(database_url, registries[0], settings),
            running_worker(database_url, registries[1], settings),
        ):
            ops = await _until_settled(sessionmaker, ids)
        spent = await budgets[0].spent("fake-model", MINUTE.replace(second=0))
    finally:
        for engine in engines:
            await engine.dispose()

    completed = [op for op in ops if op.status == "completed"]
    deferred = [op for op in ops if op.status == "pending"]
    assert len(completed) == 2
    assert len(fake.requests) == 2
    assert len(deferred) == 3
    for op in deferred:
        assert op.error is not None and op.error["code"] == "LLM_BUDGET_EXHAUSTED"
        assert op.attempt == 0  # deferring spends no attempt
        assert op.run_after > datetime.now(UTC) + timedelta(seconds=10)
    assert spent == 2 * cost


async def _until_settled(
    sessionmaker: async_sessionmaker[AsyncSession], ids: list[uuid.UUID], timeout: float = 20.0
) -> list[Operation]:
    """Poll until every operation has completed or been deferred with an error."""
    async with asyncio.timeout(timeout):
        while True:
            async with sessionmaker() as session:
                ops = list(
                    (await session.scalars(select(Operation).where(Operation.id.in_(ids)))).all()
                )
            if all(op.status == "completed" or op.error is not None for op in ops):
                return ops
            await asyncio.sleep(0.05)
