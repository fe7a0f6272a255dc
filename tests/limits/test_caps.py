"""Caps on what a client may ask for: a page size out of range is 422, and so is a
`/wait?timeout=` outside 0-60; within it, and for `Prefer: wait=N` whatever N, the wait
is capped at the server's maximum, and `Preference-Applied` tells the wait applied
(RFC 7240)."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import httpx
import pytest

from backend.config import Settings
from backend.operations.registry import Registry
from tests.conftest import ApiCaller
from tests.factories import submit
from tests.features.interviews.conftest import completed_session
from tests.limits.conftest import Sessions, limit_settings

MAX_WAIT = 0.2
MAX_PAGE_SIZE = 100


@pytest.fixture
def settings(database_url: str, storage: Path) -> Settings:
    return limit_settings(database_url, storage, operations={"max_wait_seconds": MAX_WAIT})


async def pending(sessionmaker: Sessions, registry: Registry, caller: ApiCaller) -> uuid.UUID:
    """An operation that stays pending (no worker runs)."""
    return await submit(
        sessionmaker, registry, caller, "document.extract", {"document_id": str(uuid.uuid4())}
    )


def list_paths() -> list[str]:
    some_id = uuid.uuid4()
    return [
        "/api/v1/operations",
        "/api/v1/people",
        f"/api/v1/evaluations/{some_id}/operations",
        f"/api/v1/webhook-endpoints/{some_id}/deliveries",
    ]


@pytest.mark.parametrize("page_size", [0, -1, MAX_PAGE_SIZE + 1, 10**30])
@pytest.mark.parametrize("path", list_paths())
async def test_a_page_size_out_of_range_is_422(
    client: httpx.AsyncClient, admin: ApiCaller, path: str, page_size: int
) -> None:
    response = await client.get(path, params={"page_size": page_size}, headers=admin.headers)

    assert response.status_code == 422, response.text
    body = response.json()
    assert body["code"] == "VALIDATION_ERROR"
    assert body["errors"][0]["loc"] == ["query", "page_size"]


async def test_the_largest_page_size_is_served(client: httpx.AsyncClient, admin: ApiCaller) -> None:
    response = await client.get(
        "/api/v1/operations", params={"page_size": MAX_PAGE_SIZE}, headers=admin.headers
    )

    assert response.status_code == 200


@pytest.mark.parametrize("timeout", ["60", "59.5"])
async def test_a_wait_timeout_over_the_servers_maximum_is_capped(
    client: httpx.AsyncClient,
    caller: ApiCaller,
    sessionmaker: Sessions,
    registry: Registry,
    timeout: str,
) -> None:
    op_id = await pending(sessionmaker, registry, caller)

    # Capped at 0.2 s; uncapped, the request would be held for a minute and fail here.
    async with asyncio.timeout(30):
        response = await client.get(
            f"/api/v1/operations/{op_id}/wait", params={"timeout": timeout}, headers=caller.headers
        )

    assert response.status_code == 200, response.text
    assert response.json()["status"] == "pending"


@pytest.mark.parametrize(
    "timeout", ["60.5", "3600", "1e300", "-1", "nan", "inf", "-inf", "soon", ""]
)
async def test_a_wait_timeout_that_is_not_a_duration_is_422(
    client: httpx.AsyncClient,
    caller: ApiCaller,
    sessionmaker: Sessions,
    registry: Registry,
    timeout: str,
) -> None:
    op_id = await pending(sessionmaker, registry, caller)

    response = await client.get(
        f"/api/v1/operations/{op_id}/wait", params={"timeout": timeout}, headers=caller.headers
    )

    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["loc"] == ["query", "timeout"]


@pytest.mark.parametrize("prefer", ["wait=3600", "wait=99999999999999999999", 'wait="120"'])
async def test_a_preferred_wait_over_the_maximum_is_capped_and_says_so(
    client: httpx.AsyncClient,
    caller: ApiCaller,
    sessionmaker: Sessions,
    registry: Registry,
    prefer: str,
) -> None:
    op_id = await pending(sessionmaker, registry, caller)

    read = await client.get(
        f"/api/v1/operations/{op_id}", headers={**caller.headers, "Prefer": prefer}
    )
    session_id = await completed_session(client, caller)
    created = await client.post(
        f"/api/v1/sessions/{session_id}/generate-feedback",
        headers={**caller.headers, "Prefer": prefer},
    )

    assert read.status_code == 200
    assert read.headers["Preference-Applied"] == f"wait={MAX_WAIT:g}"
    assert created.status_code == 202, created.text
    assert created.headers["Preference-Applied"] == f"wait={MAX_WAIT:g}"
