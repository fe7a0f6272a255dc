"""Guessing credentials is slowed: after a few failed authentications in a window a
client IP, or a presented key or reviewer token, gets 429 TOO_MANY_AUTH_FAILURES with
Retry-After. Other clients' valid keys are not affected, and the counters are shared by
every API process through PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI
from sqlalchemy import text

from backend.auth import failures
from backend.auth.failures import client_subject
from backend.auth.models import AuthFailure
from backend.config import Settings
from backend.main import create_app
from backend.operations.registry import Registry
from tests.conftest import ApiCaller
from tests.features.reviews.cycles import create_cycle, invite, review
from tests.limits.conftest import MAX_FAILURES, Sessions, row_count

OPERATIONS = "/api/v1/operations"
ATTACKER = ("203.0.113.7", 40000)
NEIGHBOUR = ("198.51.100.20", 40000)


def wrong_key(n: int) -> dict[str, str]:
    return {"Authorization": f"Bearer opsapi_guess{n:04d}"}


@asynccontextmanager
async def from_ip(app: FastAPI, client: tuple[str, int]) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=client)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


def assert_throttled(response: httpx.Response) -> None:
    assert response.status_code == 429, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "TOO_MANY_AUTH_FAILURES"
    assert 1 <= int(response.headers["Retry-After"]) <= 300


async def test_a_client_guessing_keys_is_throttled_and_its_valid_key_waits_too(
    app: FastAPI, caller: ApiCaller
) -> None:
    async with from_ip(app, ATTACKER) as attacker:
        guesses = [
            (await attacker.get(OPERATIONS, headers=wrong_key(n))).status_code
            for n in range(MAX_FAILURES)
        ]
        throttled_guess = await attacker.get(OPERATIONS, headers=wrong_key(99))
        throttled_valid = await attacker.get(OPERATIONS, headers=caller.headers)

    assert guesses == [401] * MAX_FAILURES
    assert_throttled(throttled_guess)
    # Otherwise the right guess would get through: the block holds for every key.
    assert_throttled(throttled_valid)


async def test_other_clients_keep_working_while_one_is_throttled(
    app: FastAPI, caller: ApiCaller
) -> None:
    async with from_ip(app, ATTACKER) as attacker:
        for n in range(MAX_FAILURES + 2):
            await attacker.get(OPERATIONS, headers=wrong_key(n))
    async with from_ip(app, NEIGHBOUR) as neighbour:
        response = await neighbour.get(OPERATIONS, headers=caller.headers)

    assert response.status_code == 200, response.text


async def test_one_wrong_key_tried_from_many_addresses_is_throttled(app: FastAPI) -> None:
    statuses = []
    for n in range(MAX_FAILURES + 1):
        async with from_ip(app, (f"192.0.2.{n + 1}", 1234)) as client:
            statuses.append((await client.get(OPERATIONS, headers=wrong_key(1))).status_code)

    assert statuses == [401] * MAX_FAILURES + [429]


async def test_requests_without_a_key_are_not_counted_as_guesses(
    app: FastAPI, caller: ApiCaller, sessionmaker: Sessions
) -> None:
    async with from_ip(app, ATTACKER) as client:
        for _ in range(MAX_FAILURES + 2):
            assert (await client.get(OPERATIONS)).status_code == 401
        response = await client.get(OPERATIONS, headers=caller.headers)

    assert response.status_code == 200
    assert await row_count(sessionmaker, AuthFailure) == 0


async def test_successful_authentications_write_nothing(
    client: httpx.AsyncClient, caller: ApiCaller, sessionmaker: Sessions
) -> None:
    for _ in range(5):
        assert (await client.get(OPERATIONS, headers=caller.headers)).status_code == 200

    assert await row_count(sessionmaker, AuthFailure) == 0


async def test_a_client_may_try_again_once_its_window_has_passed(
    app: FastAPI, caller: ApiCaller, sessionmaker: Sessions
) -> None:
    async with from_ip(app, ATTACKER) as attacker:
        for n in range(MAX_FAILURES):
            await attacker.get(OPERATIONS, headers=wrong_key(n))
        assert_throttled(await attacker.get(OPERATIONS, headers=caller.headers))
        async with sessionmaker() as db:
            await db.execute(
                text("UPDATE auth_failures SET window_started_at = now() - interval '1 hour'")
            )
            await db.commit()
        again = await attacker.get(OPERATIONS, headers=wrong_key(7))
        valid = await attacker.get(OPERATIONS, headers=caller.headers)

    assert again.status_code == 401
    assert valid.status_code == 200


async def test_counters_whose_window_has_passed_are_pruned(
    app: FastAPI, sessionmaker: Sessions
) -> None:
    async with from_ip(app, ATTACKER) as attacker:
        await attacker.get(OPERATIONS, headers=wrong_key(1))
    async with sessionmaker() as db:
        await db.execute(
            text("UPDATE auth_failures SET window_started_at = now() - interval '1 hour'")
        )
        await db.commit()
    async with from_ip(app, NEIGHBOUR) as neighbour:
        await neighbour.get(OPERATIONS, headers=wrong_key(2))

    pruned = await failures.prune(app.state.engine, window_seconds=300, limit=100)

    assert pruned == 2  # the attacker's address and key; the neighbour's are recent
    assert await row_count(sessionmaker, AuthFailure) == 2


async def test_failures_counted_by_one_api_process_throttle_the_others(
    app: FastAPI, settings: Settings, registry: Registry, database_url: str, caller: ApiCaller
) -> None:
    other = create_app(settings, registry=registry, database_url=database_url, configure_logs=False)
    async with other.router.lifespan_context(other):
        async with from_ip(app, ATTACKER) as first:
            for n in range(MAX_FAILURES):
                await first.get(OPERATIONS, headers=wrong_key(n))
        async with from_ip(other, ATTACKER) as second:
            response = await second.get(OPERATIONS, headers=caller.headers)

    assert_throttled(response)


async def test_reports_answer_429_to_a_throttled_client(app: FastAPI, caller: ApiCaller) -> None:
    path = "/api/v1/people/01936f0e-8f6b-7cc2-9b8e-2f4c1e7d5a10/reports/2026-10"
    async with from_ip(app, ATTACKER) as attacker:
        guesses = [
            (await attacker.get(path, headers=wrong_key(n))).status_code
            for n in range(MAX_FAILURES)
        ]
        response = await attacker.get(path, headers=caller.headers)

    assert guesses == [401] * MAX_FAILURES
    assert_throttled(response)


async def test_guessing_reviewer_tokens_is_throttled_without_locking_out_reviewers(
    app: FastAPI, admin: ApiCaller
) -> None:
    async with from_ip(app, NEIGHBOUR) as manager:
        cycle = await create_cycle(manager, admin)
        token = (await invite(manager, admin, cycle["id"]))["token"]
    async with from_ip(app, ATTACKER) as attacker:
        guesses = [
            (await attacker.get(f"/api/v1/reviews/guess-{n}")).status_code
            for n in range(MAX_FAILURES)
        ]
        throttled_open = await attacker.get(f"/api/v1/reviews/{token}")
        throttled_submit = await attacker.post(f"/api/v1/reviews/{token}", json=review())
    async with from_ip(app, ("192.0.2.50", 1)) as reviewer:
        opened = await reviewer.get(f"/api/v1/reviews/{token}")

    assert guesses == [404] * MAX_FAILURES
    assert_throttled(throttled_open)
    assert_throttled(throttled_submit)
    assert opened.status_code == 200, opened.text


def test_ipv6_clients_are_counted_by_their_64_bit_prefix() -> None:
    assert client_subject("2001:db8:1:2:aaaa::1") == client_subject("2001:db8:1:2:bbbb::9")
    assert client_subject("2001:db8:1:2::1") != client_subject("2001:db8:1:3::1")
    assert client_subject("::ffff:203.0.113.7") == client_subject("203.0.113.7")
    assert client_subject(None) == "ip:unknown"
