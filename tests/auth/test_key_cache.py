"""API processes answer a key they authenticated moments ago from memory; revocations
and blocks still reach every process at once, through PostgreSQL notifications, and
the cache's lifetime bounds staleness when a notice is missed."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.auth import service as auth
from backend.auth.service import hash_key
from backend.config import Settings
from backend.main import create_app
from backend.operations.registry import Registry
from tests.conftest import ApiCaller
from tests.conftest import test_settings as settings_for

Sessions = async_sessionmaker[AsyncSession]
LIST = "/api/v1/operations"
# Long enough that a test passing within NOTICE_BOUND was not helped by expiry.
CACHE_SECONDS = 30.0
NOTICE_BOUND = 2.0


async def answer_once_settled(
    client: httpx.AsyncClient, headers: dict[str, str], status: int, *, path: str = LIST
) -> httpx.Response:
    """The first answer with ``status`` within NOTICE_BOUND seconds, else the last one:
    what a client sees once a notice sent on commit has reached the API process."""
    deadline = time.monotonic() + NOTICE_BOUND
    while True:
        response = await client.get(path, headers=headers)
        if response.status_code == status or time.monotonic() > deadline:
            return response
        await asyncio.sleep(0.02)


@asynccontextmanager
async def serving(
    settings: Settings, registry: Registry, database_url: str, client: tuple[str, int]
) -> AsyncIterator[httpx.AsyncClient]:
    """Another API process on the same database, as seen from ``client``."""
    app = create_app(settings, registry=registry, database_url=database_url, configure_logs=False)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=client)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http


async def revoke_without_notice(sessionmaker: Sessions, caller: ApiCaller) -> None:
    """Revoke in the database only, as if the revocation's notice were lost."""
    async with sessionmaker() as session:
        await session.execute(
            text("UPDATE api_keys SET revoked_at = now() WHERE key_hash = :hash"),
            {"hash": hash_key(caller.key)},
        )
        await session.commit()


async def revoke(sessionmaker: Sessions, caller: ApiCaller) -> None:
    async with sessionmaker() as session:
        await auth.revoke_key(session, caller.key[:14])
        await session.commit()


@pytest.fixture
def settings(database_url: str) -> Settings:
    return settings_for(
        database_url,
        auth={"key_cache_seconds": CACHE_SECONDS, "max_failures": 3},
    )


async def test_a_known_key_is_answered_without_the_database(
    client: httpx.AsyncClient, caller: ApiCaller, sessionmaker: Sessions
) -> None:
    assert (await client.get(LIST, headers=caller.headers)).status_code == 200
    await revoke_without_notice(sessionmaker, caller)

    # Served from memory: the database would have refused it.
    response = await client.get(LIST, headers=caller.headers)

    assert response.status_code == 200, response.text


async def test_a_revoked_key_is_refused_by_every_api_process_at_once(
    app: FastAPI,
    client: httpx.AsyncClient,
    settings: Settings,
    registry: Registry,
    database_url: str,
    caller: ApiCaller,
    sessionmaker: Sessions,
) -> None:
    async with serving(settings, registry, database_url, ("192.0.2.1", 1)) as other:
        for api in (client, other):
            assert (await api.get(LIST, headers=caller.headers)).status_code == 200
        await revoke(sessionmaker, caller)
        started = time.monotonic()

        answers = [await answer_once_settled(api, caller.headers, 401) for api in (client, other)]
        waited = time.monotonic() - started

    assert [a.status_code for a in answers] == [401, 401]
    assert waited < NOTICE_BOUND < CACHE_SECONDS  # the notice, not the entry's expiry


async def test_an_entry_expires_after_key_cache_seconds(
    database_url: str, registry: Registry, caller: ApiCaller, sessionmaker: Sessions
) -> None:
    short = settings_for(database_url, auth={"key_cache_seconds": 0.5})
    async with serving(short, registry, database_url, ("192.0.2.1", 1)) as api:
        assert (await api.get(LIST, headers=caller.headers)).status_code == 200
        await revoke_without_notice(sessionmaker, caller)
        from_memory = await api.get(LIST, headers=caller.headers)
        await asyncio.sleep(0.6)
        expired = await api.get(LIST, headers=caller.headers)

    assert from_memory.status_code == 200
    assert expired.status_code == 401


async def test_with_the_cache_off_every_request_asks_the_database(
    database_url: str, registry: Registry, caller: ApiCaller, sessionmaker: Sessions
) -> None:
    off = settings_for(database_url, auth={"key_cache_seconds": 0})
    async with serving(off, registry, database_url, ("192.0.2.1", 1)) as api:
        assert (await api.get(LIST, headers=caller.headers)).status_code == 200
        await revoke_without_notice(sessionmaker, caller)
        response = await api.get(LIST, headers=caller.headers)

    assert response.status_code == 401


async def test_a_client_blocked_through_another_process_cannot_use_a_remembered_key(
    settings: Settings, registry: Registry, database_url: str, caller: ApiCaller
) -> None:
    attacker = ("203.0.113.7", 40000)
    async with (
        serving(settings, registry, database_url, attacker) as first,
        serving(settings, registry, database_url, attacker) as second,
    ):
        assert (await first.get(LIST, headers=caller.headers)).status_code == 200
        for n in range(settings.auth.max_failures):
            wrong = {"Authorization": f"Bearer opsapi_guess{n:04d}"}
            assert (await second.get(LIST, headers=wrong)).status_code == 401

        response = await answer_once_settled(first, caller.headers, 429)

    assert response.status_code == 429, response.text
    assert response.json()["code"] == "TOO_MANY_AUTH_FAILURES"


async def test_a_lost_listening_connection_empties_the_cache(
    client: httpx.AsyncClient, caller: ApiCaller, sessionmaker: Sessions, database_url: str
) -> None:
    assert (await client.get(LIST, headers=caller.headers)).status_code == 200
    await revoke_without_notice(sessionmaker, caller)
    async with sessionmaker() as session:
        # The API process's LISTEN connection (its notices could be missed while down).
        ended = await session.scalar(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND query LIKE 'LISTEN%'"
            )
        )
    assert ended >= 1

    response = await answer_once_settled(client, caller.headers, 401)

    assert response.status_code == 401
