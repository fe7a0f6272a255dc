"""Failures: retries with backoff, permanent failures, safe errors, Retry-After, timeouts."""

from __future__ import annotations

import asyncio
import os
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.config import Settings
from backend.operations import execution
from backend.operations.models import Operation
from backend.operations.registry import Registry
from tests.conftest import ApiCaller
from tests.factories import (
    create_runs_table,
    fetch,
    recorded_runs,
    running_worker,
    submit,
    wait_until,
)

DONE = {"completed", "failed", "cancelled"}


async def wait_for_retry(
    sessionmaker: async_sessionmaker[AsyncSession], op_id: uuid.UUID
) -> tuple[Operation, bool]:
    """Wait until a failed attempt put the operation back to pending; answer it and
    whether its run_after was still in the future when read."""
    while True:
        async with sessionmaker() as session:
            row = (
                await session.execute(
                    select(Operation, Operation.run_after > func.now()).where(Operation.id == op_id)
                )
            ).one()
        op, in_future = row
        if op.status == "pending" and op.error is not None:
            return op, in_future
        assert op.status not in DONE, f"finished as {op.status} without a visible retry"
        await asyncio.sleep(0.02)


@pytest.mark.timeout(30)
async def test_retryable_failure_is_retried_with_backoff_until_it_succeeds(
    sessionmaker: async_sessionmaker[AsyncSession],
    registry: Registry,
    caller: ApiCaller,
    settings: Settings,
    database_url: str,
) -> None:
    params = {"code": "PROVIDER_DOWN", "retryable": True, "fail_times": 2}
    op_id = await submit(sessionmaker, registry, caller, "test.backoff", params)
    async with running_worker(database_url, registry, settings):
        retrying, in_future = await wait_for_retry(sessionmaker, op_id)
        op = await wait_until(sessionmaker, op_id, DONE)

    assert retrying.attempt == 1
    assert retrying.error == {"code": "PROVIDER_DOWN", "message": "It failed.", "retryable": True}
    assert in_future
    # Backoff of the first retry: base 1 s · 2^0, scaled by the 0.5–1.0 jitter.
    delay = retrying.run_after - retrying.updated_at
    assert timedelta(seconds=0.5) <= delay <= timedelta(seconds=1.0)

    assert op.status == "completed"
    assert op.attempt == 3
    assert op.result == {"succeeded_on_attempt": 3}
    assert op.error is None


@pytest.mark.timeout(30)
async def test_permanent_failure_fails_at_once_with_its_safe_error(
    sessionmaker: async_sessionmaker[AsyncSession],
    registry: Registry,
    caller: ApiCaller,
    settings: Settings,
    database_url: str,
) -> None:
    params = {"code": "INPUT_REJECTED", "message": "The input is not a document."}
    op_id = await submit(sessionmaker, registry, caller, "test.fail", params)
    async with running_worker(database_url, registry, settings):
        op = await wait_until(sessionmaker, op_id, DONE)
    assert op.status == "failed"
    assert op.attempt == 1
    assert op.error == {
        "code": "INPUT_REJECTED",
        "message": "The input is not a document.",
        "retryable": False,
    }
    assert op.finished_at is not None and op.expires_at is not None


@pytest.mark.timeout(30)
async def test_unexpected_exception_never_shows_its_message_to_the_client(
    sessionmaker: async_sessionmaker[AsyncSession],
    registry: Registry,
    caller: ApiCaller,
    settings: Settings,
    database_url: str,
) -> None:
    op_id = await submit(sessionmaker, registry, caller, "test.fail", {"unexpected": True})
    async with running_worker(database_url, registry, settings):
        op = await wait_until(sessionmaker, op_id, DONE)
    assert op.status == "failed"
    assert op.attempt == 3
    assert op.error is not None
    assert op.error["code"] == "INTERNAL_ERROR"
    assert op.error["retryable"] is False
    assert "secret" not in op.error["message"]
    assert "RuntimeError" not in op.error["message"]
    # The final answer does not promise a retry that will not happen.
    assert "retried" not in op.error["message"]


@pytest.mark.timeout(30)
async def test_retryable_failure_fails_once_attempts_are_spent(
    sessionmaker: async_sessionmaker[AsyncSession],
    registry: Registry,
    caller: ApiCaller,
    settings: Settings,
    database_url: str,
) -> None:
    params = {"code": "PROVIDER_DOWN", "message": "The provider is down.", "retryable": True}
    op_id = await submit(sessionmaker, registry, caller, "test.fail", params)
    async with running_worker(database_url, registry, settings):
        op = await wait_until(sessionmaker, op_id, DONE)
    assert op.status == "failed"
    assert op.attempt == op.max_attempts == 3
    assert op.error == {
        "code": "PROVIDER_DOWN",
        "message": "The provider is down.",
        "retryable": False,
    }


@pytest.mark.timeout(30)
async def test_retry_after_hint_defers_the_operation_without_spending_an_attempt(
    sessionmaker: async_sessionmaker[AsyncSession],
    registry: Registry,
    caller: ApiCaller,
    settings: Settings,
    database_url: str,
) -> None:
    # test.defer allows a single attempt: a deferral that spent it could never succeed.
    op_id = await submit(sessionmaker, registry, caller, "test.defer", {"retry_after": 1.5})
    async with running_worker(database_url, registry, settings):
        deferred, in_future = await wait_for_retry(sessionmaker, op_id)
        op = await wait_until(sessionmaker, op_id, DONE)

    assert deferred.attempt == 0
    assert deferred.error is not None and deferred.error["code"] == "RATE_LIMITED"
    assert in_future
    assert deferred.run_after - deferred.updated_at == timedelta(seconds=1.5)

    assert op.status == "completed"
    assert op.attempt == 1
    assert op.result == {"runs": 2, "attempt": 1}


@pytest.mark.timeout(30)
async def test_attempt_over_the_kind_timeout_is_retried_then_fails_as_timeout(
    sessionmaker: async_sessionmaker[AsyncSession],
    registry: Registry,
    caller: ApiCaller,
    settings: Settings,
    database_url: str,
) -> None:
    op_id = await submit(sessionmaker, registry, caller, "test.slow", {"seconds": 10})
    async with running_worker(database_url, registry, settings):
        op = await wait_until(sessionmaker, op_id, DONE)
    assert op.status == "failed"
    assert op.attempt == op.max_attempts == 2
    assert op.error is not None
    assert op.error["code"] == "TIMEOUT"
    assert op.error["retryable"] is False
    assert (await fetch(sessionmaker, op_id)).lease_owner is None


@pytest.mark.timeout(30)
async def test_handler_that_ignores_its_timeout_is_abandoned_and_fails_as_timeout(
    monkeypatch: pytest.MonkeyPatch,
    sessionmaker: async_sessionmaker[AsyncSession],
    registry: Registry,
    caller: ApiCaller,
    settings: Settings,
    database_url: str,
) -> None:
    monkeypatch.setattr(execution, "STOP_GRACE", 0.5)
    op_id = await submit(sessionmaker, registry, caller, "test.stubborn", {"seconds": 60})
    async with running_worker(database_url, registry, settings):
        op = await wait_until(sessionmaker, op_id, DONE, timeout=10)
    assert op.status == "failed"
    assert op.error is not None and op.error["code"] == "TIMEOUT"


@pytest.mark.timeout(30)
async def test_domain_writes_of_a_failed_attempt_roll_back_with_it(
    sessionmaker: async_sessionmaker[AsyncSession],
    registry: Registry,
    caller: ApiCaller,
    settings: Settings,
    database_url: str,
) -> None:
    await create_runs_table(sessionmaker)
    op_id = await submit(sessionmaker, registry, caller, "test.record", {"fail_attempts": 2})
    async with running_worker(database_url, registry, settings):
        op = await wait_until(sessionmaker, op_id, DONE)
    assert op.status == "completed"
    assert op.attempt == 3
    assert await recorded_runs(sessionmaker, op_id) == [(op_id, 3, os.getpid())]
