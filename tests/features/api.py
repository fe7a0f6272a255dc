"""HTTP steps the feature tests share: people, keys linked to them, waiting for work."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from tests.conftest import ApiCaller

Json = dict[str, Any]


async def create_person(
    client: httpx.AsyncClient, caller: ApiCaller, name: str, **fields: Any
) -> Json:
    response = await client.post(
        "/api/v1/people", json={"name": name, **fields}, headers=caller.headers
    )
    assert response.status_code == 201, response.text
    body: Json = response.json()
    return body


async def link(
    client: httpx.AsyncClient, admin: ApiCaller, person_id: str, principal: ApiCaller
) -> None:
    response = await client.post(
        f"/api/v1/people/{person_id}/principals",
        json={"principal_id": str(principal.principal_id)},
        headers=admin.headers,
    )
    assert response.status_code == 200, response.text


async def wait_done(client: httpx.AsyncClient, caller: ApiCaller, op_id: str) -> Json:
    """The operation once it is done (long-polls /wait; fails after a minute)."""
    for _ in range(4):
        response = await client.get(
            f"/api/v1/operations/{op_id}/wait", params={"timeout": 15}, headers=caller.headers
        )
        body: Json = response.json()
        if body["done"]:
            return body
    raise AssertionError(f"operation {op_id} not done: {body}")


async def eventually(check: Callable[[], Awaitable[Any]], what: str, timeout: float = 30.0) -> Any:
    """Poll ``check`` until it answers something truthy (a test helper, not a timing claim)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = await check()
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"not {what} after {timeout}s")
        await asyncio.sleep(0.05)
