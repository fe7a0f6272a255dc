"""API keys on the HTTP API: 401 for every kind of bad key, viewers read only, usage."""

from __future__ import annotations

import uuid

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.auth import service as auth
from backend.auth.models import ApiKey, Role
from backend.auth.service import hash_key
from tests.auth.test_key_cache import answer_once_settled
from tests.conftest import ApiCaller, KeyFactory

Sessions = async_sessionmaker[AsyncSession]
LIST = "/api/v1/operations"


async def stored_key(sessionmaker: Sessions, caller: ApiCaller) -> ApiKey:
    async with sessionmaker() as session:
        key = await session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_key(caller.key)))
        assert key is not None
        return key


def assert_not_authenticated(response: httpx.Response) -> None:
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["WWW-Authenticate"] == "Bearer"
    body = response.json()
    assert body["code"] == "NOT_AUTHENTICATED"
    assert body["status"] == 401
    assert body["detail"]


async def test_a_request_without_a_key_is_401(client: httpx.AsyncClient) -> None:
    response = await client.get(LIST)

    assert_not_authenticated(response)
    assert "Authorization: Bearer" in response.json()["detail"]


@pytest.mark.parametrize(
    "header",
    ["Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "opsapi_abcdef", "Token opsapi_abcdef"],
    ids=["no-key", "empty-key", "basic", "no-scheme", "other-scheme"],
)
async def test_a_malformed_authorization_header_is_401(
    client: httpx.AsyncClient, header: str
) -> None:
    response = await client.get(LIST, headers={"Authorization": header})

    assert_not_authenticated(response)


async def test_an_unknown_key_is_401(client: httpx.AsyncClient) -> None:
    response = await client.get(LIST, headers={"Authorization": "Bearer opsapi_" + "x" * 43})

    assert_not_authenticated(response)
    assert "unknown or has been revoked" in response.json()["detail"]


async def test_a_revoked_key_is_401(
    client: httpx.AsyncClient, caller: ApiCaller, sessionmaker: Sessions
) -> None:
    assert (await client.get(LIST, headers=caller.headers)).status_code == 200
    async with sessionmaker() as session:
        await auth.revoke_key(session, str((await stored_key(sessionmaker, caller)).id))
        await session.commit()

    # The key was answered from memory; the revocation's notice reaches the API
    # process a moment after the commit (tests/auth/test_key_cache.py).
    response = await answer_once_settled(client, caller.headers, 401)

    assert_not_authenticated(response)


async def test_every_operation_route_needs_a_key(client: httpx.AsyncClient) -> None:
    op = f"/api/v1/operations/{uuid.uuid4()}"
    for method, path in [
        ("GET", LIST),
        ("GET", op),
        ("GET", op + "/wait"),
        ("POST", op + "/cancel"),
        ("DELETE", op),
    ]:
        assert_not_authenticated(await client.request(method, path))


async def test_using_a_key_records_when_it_was_last_used(
    client: httpx.AsyncClient, caller: ApiCaller, sessionmaker: Sessions
) -> None:
    assert (await stored_key(sessionmaker, caller)).last_used_at is None

    await client.get(LIST, headers=caller.headers)

    assert (await stored_key(sessionmaker, caller)).last_used_at is not None


async def test_last_used_is_recorded_even_when_the_request_fails(
    client: httpx.AsyncClient, caller: ApiCaller, sessionmaker: Sessions
) -> None:
    response = await client.get(f"{LIST}/{uuid.uuid4()}", headers=caller.headers)

    assert response.status_code == 404
    assert (await stored_key(sessionmaker, caller)).last_used_at is not None


async def test_keys_are_stored_hashed_with_a_listing_prefix(
    caller: ApiCaller, sessionmaker: Sessions
) -> None:
    key = await stored_key(sessionmaker, caller)

    assert caller.key.startswith("opsapi_")
    assert key.key_hash != caller.key
    assert caller.key not in key.key_hash
    assert caller.key.startswith(key.prefix)
    assert len(key.prefix) < len(caller.key) // 2


async def test_a_viewer_can_list_but_not_change(
    client: httpx.AsyncClient, make_caller: KeyFactory
) -> None:
    viewer = await make_caller(role=Role.viewer)

    assert (await client.get(LIST, headers=viewer.headers)).status_code == 200
    response = await client.post(f"{LIST}/{uuid.uuid4()}/cancel", headers=viewer.headers)
    assert response.status_code == 403
    assert response.json()["code"] == "READ_ONLY_CALLER"


@pytest.mark.parametrize("role", [Role.admin, Role.member])
async def test_admins_and_members_may_change_operations(
    client: httpx.AsyncClient, make_caller: KeyFactory, role: Role
) -> None:
    writer = await make_caller(role=role)

    response = await client.post(f"{LIST}/{uuid.uuid4()}/cancel", headers=writer.headers)

    assert response.status_code == 404
