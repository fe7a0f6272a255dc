"""Usage accounting: rows written with the operation's result, and GET /api/v1/usage."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.config import LlmSettings, Settings
from backend.llm import LlmClient, Usage, record_usage
from backend.llm.models import LlmUsage
from backend.operations.models import Operation
from tests.conftest import ApiCaller, KeyFactory
from tests.factories import running_worker, submit, wait_until
from tests.fakes.openai_server import FakeOpenAI, Reply
from tests.llm.answers import SUMMARY, VARIABLES
from tests.llm.conftest import ClientFactory
from tests.llm.kinds import SUMMARY_KIND, llm_registry

Sessions = async_sessionmaker[AsyncSession]

NOON = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


async def usage_rows(sessionmaker: Sessions) -> list[LlmUsage]:
    async with sessionmaker() as session:
        return list((await session.scalars(select(LlmUsage))).all())


async def test_every_call_of_a_completed_operation_is_recorded_with_its_result(
    make_llm: ClientFactory,
    fake: FakeOpenAI,
    database_url: str,
    settings: Settings,
    sessionmaker: Sessions,
    caller: ApiCaller,
) -> None:
    registry = llm_registry(make_llm())
    fake.script(Reply.json(SUMMARY, prompt_tokens=400, completion_tokens=60))
    op_id = await submit(sessionmaker, registry, caller, SUMMARY_KIND, VARIABLES)

    async with running_worker(database_url, registry, settings):
        op = await wait_until(sessionmaker, op_id, {"completed", "failed"})

    assert op.status == "completed"
    assert op.result is not None
    assert op.result["summary"] == SUMMARY["summary"]
    assert op.result["generated_by"]["provider"] == "openai"
    assert op.result["generated_by"]["prompt_tokens"] == 400
    [row] = await usage_rows(sessionmaker)
    assert (row.tenant_id, row.operation_id, row.kind) == (caller.tenant_id, op_id, SUMMARY_KIND)
    assert (row.provider, row.model) == ("openai", "fake-model")
    assert (row.prompt_name, row.prompt_version) == ("review_summary", 1)
    assert (row.prompt_tokens, row.completion_tokens) == (400, 60)


async def test_an_operation_answered_by_the_local_provider_says_so(
    database_url: str, settings: Settings, sessionmaker: Sessions, caller: ApiCaller
) -> None:
    registry = llm_registry(LlmClient.from_settings(LlmSettings()))
    op_id = await submit(sessionmaker, registry, caller, SUMMARY_KIND, VARIABLES)

    async with running_worker(database_url, registry, settings):
        op = await wait_until(sessionmaker, op_id, {"completed", "failed"})

    assert op.status == "completed"
    assert op.result is not None
    assert op.result["generated_by"]["provider"] == "local"
    assert op.result["summary"]
    [row] = await usage_rows(sessionmaker)
    assert (row.provider, row.model, row.operation_id) == ("local", "extractive-1", op_id)


async def test_a_failed_attempts_usage_rolls_back_with_it(
    make_llm: ClientFactory,
    fake: FakeOpenAI,
    database_url: str,
    settings: Settings,
    sessionmaker: Sessions,
    caller: ApiCaller,
) -> None:
    registry = llm_registry(make_llm())
    fake.default = Reply.json(SUMMARY)
    params = {**VARIABLES, "fail_after_call": True}
    op_id = await submit(sessionmaker, registry, caller, SUMMARY_KIND, params)

    async with running_worker(database_url, registry, settings):
        op = await wait_until(sessionmaker, op_id, {"completed", "failed"})

    assert (op.status, op.attempt) == ("failed", 2)
    assert len(fake.requests) == 2
    assert await usage_rows(sessionmaker) == []


async def add_usage(
    sessionmaker: Sessions,
    tenant_id: object,
    *,
    kind: str = "review.summary",
    model: str = "gpt-4o-mini",
    provider: str = "openai",
    tokens: tuple[int, int] = (100, 10),
    at: datetime = NOON,
    operation_id: uuid.UUID | None = None,
) -> None:
    usage = Usage(
        provider=provider,
        model=model,
        prompt="review_summary",
        prompt_version=1,
        prompt_digest="0123456789ab",
        prompt_tokens=tokens[0],
        completion_tokens=tokens[1],
    )
    async with sessionmaker() as session:
        [row] = record_usage(
            session,
            tenant_id=tenant_id,  # type: ignore[arg-type]
            operation_id=operation_id,
            kind=kind,
            usages=[usage],
        )
        row.created_at = at
        await session.commit()


async def test_usage_outlives_its_operation(
    sessionmaker: Sessions, caller: ApiCaller, make_llm: ClientFactory
) -> None:
    registry = llm_registry(make_llm())
    op_id = await submit(sessionmaker, registry, caller, SUMMARY_KIND, VARIABLES)
    await add_usage(sessionmaker, caller.tenant_id, operation_id=op_id)

    async with sessionmaker() as session:
        await session.execute(delete(Operation).where(Operation.id == op_id))
        await session.commit()

    [row] = await usage_rows(sessionmaker)
    assert row.operation_id is None
    assert row.tenant_id == caller.tenant_id


async def test_usage_totals_are_summed_by_kind_and_model_for_the_callers_tenant_only(
    client: httpx.AsyncClient, sessionmaker: Sessions, caller: ApiCaller, make_caller: KeyFactory
) -> None:
    other = await make_caller()
    tenant = caller.tenant_id
    await add_usage(sessionmaker, tenant, tokens=(100, 10))
    await add_usage(sessionmaker, tenant, tokens=(200, 20), at=NOON + timedelta(hours=1))
    await add_usage(sessionmaker, tenant, model="gpt-4o", tokens=(50, 5))
    await add_usage(sessionmaker, tenant, kind="document.metadata", provider="local",
                    model="extractive-1", tokens=(7, 3))  # fmt: skip
    await add_usage(sessionmaker, tenant, tokens=(1000, 1000), at=NOON - timedelta(days=2))
    await add_usage(sessionmaker, other.tenant_id, tokens=(9999, 9999))

    response = await client.get(
        "/api/v1/usage",
        params={"from": "2026-11-01T00:00:00Z", "to": "2026-11-02T00:00:00Z"},
        headers=caller.headers,
    )

    assert response.status_code == 200
    body = response.json()
    assert (body["from"], body["to"]) == ("2026-11-01T00:00:00Z", "2026-11-02T00:00:00Z")
    assert (body["calls"], body["prompt_tokens"], body["completion_tokens"]) == (4, 357, 38)
    assert body["total_tokens"] == 395
    assert body["by_kind_and_model"] == [
        {"kind": "document.metadata", "provider": "local", "model": "extractive-1",
         "calls": 1, "prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10},
        {"kind": "review.summary", "provider": "openai", "model": "gpt-4o",
         "calls": 1, "prompt_tokens": 50, "completion_tokens": 5, "total_tokens": 55},
        {"kind": "review.summary", "provider": "openai", "model": "gpt-4o-mini",
         "calls": 2, "prompt_tokens": 300, "completion_tokens": 30, "total_tokens": 330},
    ]  # fmt: skip


async def test_the_period_includes_from_and_excludes_to_reading_plain_times_as_utc(
    client: httpx.AsyncClient, sessionmaker: Sessions, caller: ApiCaller
) -> None:
    await add_usage(sessionmaker, caller.tenant_id, at=NOON)
    await add_usage(sessionmaker, caller.tenant_id, at=NOON + timedelta(hours=1))

    response = await client.get(
        "/api/v1/usage",
        params={"from": "2026-11-01T12:00:00", "to": "2026-11-01T13:00:00"},
        headers=caller.headers,
    )

    assert response.json()["calls"] == 1


async def test_without_a_period_the_last_thirty_days_are_totalled(
    client: httpx.AsyncClient, sessionmaker: Sessions, caller: ApiCaller
) -> None:
    now = datetime.now(UTC)
    await add_usage(sessionmaker, caller.tenant_id, at=now - timedelta(days=1))
    await add_usage(sessionmaker, caller.tenant_id, at=now - timedelta(days=45))

    body = (await client.get("/api/v1/usage", headers=caller.headers)).json()

    assert body["calls"] == 1
    start = datetime.fromisoformat(body["from"])
    end = datetime.fromisoformat(body["to"])
    assert end - start == timedelta(days=30)


async def test_a_period_that_ends_before_it_starts_or_spans_over_a_year_is_refused(
    client: httpx.AsyncClient, caller: ApiCaller
) -> None:
    backwards = await client.get(
        "/api/v1/usage",
        params={"from": "2026-11-02T00:00:00Z", "to": "2026-11-01T00:00:00Z"},
        headers=caller.headers,
    )
    too_long = await client.get(
        "/api/v1/usage",
        params={"from": "2024-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"},
        headers=caller.headers,
    )
    malformed = await client.get(
        "/api/v1/usage", params={"from": "last tuesday"}, headers=caller.headers
    )

    for response in (backwards, too_long):
        assert response.status_code == 422
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == "INVALID_USAGE_PERIOD"
    assert malformed.status_code == 422
    assert malformed.json()["code"] == "VALIDATION_ERROR"


async def test_usage_needs_an_api_key(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/usage")

    assert response.status_code == 401
    assert response.json()["code"] == "NOT_AUTHENTICATED"
