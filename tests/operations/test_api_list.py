"""GET /api/v1/operations: filters, page sizes, keyset pagination, tenant scope."""

from __future__ import annotations

import base64
import os
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.operations.registry import Registry
from backend.operations.states import Status
from tests.conftest import ApiCaller, KeyFactory
from tests.factories import submit
from tests.operations.rows import move_to, set_created_at

Sessions = async_sessionmaker[AsyncSession]
LIST = "/api/v1/operations"


async def submit_many(
    sessionmaker: Sessions, registry: Registry, caller: ApiCaller, count: int, **options: Any
) -> list[uuid.UUID]:
    return [
        await submit(sessionmaker, registry, caller, "test.echo", **options) for _ in range(count)
    ]


async def list_ids(client: httpx.AsyncClient, caller: ApiCaller, params: Any = None) -> list[str]:
    response = await client.get(LIST, headers=caller.headers, params=params)
    assert response.status_code == 200, response.text
    return [op["id"] for op in response.json()["operations"]]


async def test_lists_the_callers_operations_newest_first(
    client: httpx.AsyncClient, caller: ApiCaller, sessionmaker: Sessions, registry: Registry
) -> None:
    ids = await submit_many(sessionmaker, registry, caller, 3)

    response = await client.get(LIST, headers=caller.headers)

    assert response.status_code == 200
    body = response.json()
    assert [op["id"] for op in body["operations"]] == [str(i) for i in reversed(ids)]
    assert body["next_page_token"] is None
    assert body["operations"][0]["links"]["self"].endswith(str(ids[-1]))


async def test_an_empty_tenant_gets_an_empty_list(
    client: httpx.AsyncClient, caller: ApiCaller
) -> None:
    response = await client.get(LIST, headers=caller.headers)

    assert response.json() == {"operations": [], "next_page_token": None}


async def test_another_tenants_operations_are_never_listed(
    client: httpx.AsyncClient,
    caller: ApiCaller,
    make_caller: KeyFactory,
    sessionmaker: Sessions,
    registry: Registry,
) -> None:
    other = await make_caller()
    mine = await submit_many(sessionmaker, registry, caller, 2)
    await submit_many(sessionmaker, registry, other, 3)

    assert sorted(await list_ids(client, caller)) == sorted(str(i) for i in mine)


async def test_status_filter_returns_only_that_status(
    client: httpx.AsyncClient, caller: ApiCaller, sessionmaker: Sessions, registry: Registry
) -> None:
    pending, completed, failed = await submit_many(sessionmaker, registry, caller, 3)
    await move_to(sessionmaker, completed, Status.completed)
    await move_to(sessionmaker, failed, Status.failed)

    assert await list_ids(client, caller, {"status": "completed"}) == [str(completed)]
    assert await list_ids(client, caller, {"status": "pending"}) == [str(pending)]


async def test_status_filter_can_be_repeated_to_match_several(
    client: httpx.AsyncClient, caller: ApiCaller, sessionmaker: Sessions, registry: Registry
) -> None:
    pending, completed, failed = await submit_many(sessionmaker, registry, caller, 3)
    await move_to(sessionmaker, completed, Status.completed)
    await move_to(sessionmaker, failed, Status.failed)

    ids = await list_ids(client, caller, [("status", "completed"), ("status", "failed")])

    assert ids == [str(failed), str(completed)]


async def test_an_unknown_status_is_422_naming_the_field(
    client: httpx.AsyncClient, caller: ApiCaller
) -> None:
    response = await client.get(LIST, headers=caller.headers, params={"status": "finished"})

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"][0]["loc"] == ["query", "status", 0]


async def test_kind_filter_returns_only_that_kind(
    client: httpx.AsyncClient, caller: ApiCaller, sessionmaker: Sessions, registry: Registry
) -> None:
    echo = await submit(sessionmaker, registry, caller, "test.echo")
    sleep = await submit(sessionmaker, registry, caller, "test.sleep")

    assert await list_ids(client, caller, {"kind": "test.sleep"}) == [str(sleep)]
    assert await list_ids(client, caller, {"kind": "test.echo"}) == [str(echo)]
    assert await list_ids(client, caller, {"kind": "test.nothing"}) == []


async def test_target_filter_matches_the_exact_target(
    client: httpx.AsyncClient, caller: ApiCaller, sessionmaker: Sessions, registry: Registry
) -> None:
    target = "https://example.com/reports/7?period=2026-Q1"
    wanted = await submit(sessionmaker, registry, caller, "test.echo", target=target)
    await submit(sessionmaker, registry, caller, "test.echo", target=target + "&x=1")
    await submit(sessionmaker, registry, caller, "test.echo")

    assert await list_ids(client, caller, {"target": target}) == [str(wanted)]


async def test_created_after_and_before_bound_the_creation_time(
    client: httpx.AsyncClient, caller: ApiCaller, sessionmaker: Sessions, registry: Registry
) -> None:
    old, middle, new = await submit_many(sessionmaker, registry, caller, 3)
    base = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)
    await set_created_at(sessionmaker, old, base - timedelta(days=2))
    await set_created_at(sessionmaker, middle, base)
    await set_created_at(sessionmaker, new, base + timedelta(days=2))
    after = (base - timedelta(days=1)).isoformat()
    before = (base + timedelta(days=1)).isoformat()

    assert await list_ids(client, caller, {"created_after": after}) == [str(new), str(middle)]
    assert await list_ids(client, caller, {"created_before": before}) == [str(middle), str(old)]
    both = {"created_after": after, "created_before": before}
    assert await list_ids(client, caller, both) == [str(middle)]


async def test_created_after_accepts_a_zulu_timestamp(
    client: httpx.AsyncClient, caller: ApiCaller, sessionmaker: Sessions, registry: Registry
) -> None:
    op_id = await submit(sessionmaker, registry, caller, "test.echo")
    await set_created_at(sessionmaker, op_id, datetime(2026, 3, 1, tzinfo=UTC))

    assert await list_ids(client, caller, {"created_after": "2026-02-28T23:59:59Z"}) == [str(op_id)]
    assert await list_ids(client, caller, {"created_after": "2026-03-01T00:00:01Z"}) == []


@pytest.fixture
def process_in_new_york() -> Iterator[None]:
    """The API process's local time zone is not UTC (a naive time must not depend on it)."""
    previous = os.environ.get("TZ")
    os.environ["TZ"] = "America/New_York"
    time.tzset()
    yield
    if previous is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = previous
    time.tzset()


@pytest.mark.usefixtures("process_in_new_york")
async def test_a_timestamp_without_a_time_zone_is_read_as_utc(
    client: httpx.AsyncClient, caller: ApiCaller, sessionmaker: Sessions, registry: Registry
) -> None:
    op_id = await submit(sessionmaker, registry, caller, "test.echo")
    await set_created_at(sessionmaker, op_id, datetime(2026, 3, 1, 12, 0, tzinfo=UTC))

    just_before = {"created_after": "2026-03-01T11:59:00"}
    just_after = {"created_after": "2026-03-01T12:01:00"}

    assert await list_ids(client, caller, just_before) == [str(op_id)]
    assert await list_ids(client, caller, just_after) == []


async def test_a_malformed_timestamp_is_422(client: httpx.AsyncClient, caller: ApiCaller) -> None:
    response = await client.get(LIST, headers=caller.headers, params={"created_after": "monday"})

    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["query", "created_after"]


@pytest.mark.parametrize("page_size", ["0", "101", "-1", "ten"])
async def test_page_size_out_of_bounds_is_422(
    client: httpx.AsyncClient, caller: ApiCaller, page_size: str
) -> None:
    response = await client.get(LIST, headers=caller.headers, params={"page_size": page_size})

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == "VALIDATION_ERROR"
    assert body["errors"][0]["loc"] == ["query", "page_size"]


@pytest.mark.parametrize("page_size", [1, 100])
async def test_page_size_bounds_are_accepted(
    client: httpx.AsyncClient, caller: ApiCaller, page_size: int
) -> None:
    response = await client.get(LIST, headers=caller.headers, params={"page_size": page_size})

    assert response.status_code == 200


async def test_default_page_size_is_20(
    client: httpx.AsyncClient, caller: ApiCaller, sessionmaker: Sessions, registry: Registry
) -> None:
    await submit_many(sessionmaker, registry, caller, 21)

    body = (await client.get(LIST, headers=caller.headers)).json()

    assert len(body["operations"]) == 20
    assert body["next_page_token"] is not None


async def test_pages_cover_every_operation_once_in_order(
    client: httpx.AsyncClient, caller: ApiCaller, sessionmaker: Sessions, registry: Registry
) -> None:
    ids = await submit_many(sessionmaker, registry, caller, 23)
    pages: list[list[str]] = []
    token: str | None = None
    while True:
        params: dict[str, Any] = {"page_size": 10}
        if token is not None:
            params["page_token"] = token
        body = (await client.get(LIST, headers=caller.headers, params=params)).json()
        pages.append([op["id"] for op in body["operations"]])
        token = body["next_page_token"]
        if token is None:
            break

    assert [len(p) for p in pages] == [10, 10, 3]
    seen = [op_id for page in pages for op_id in page]
    assert seen == [str(i) for i in reversed(ids)]


async def test_a_full_last_page_has_no_next_token(
    client: httpx.AsyncClient, caller: ApiCaller, sessionmaker: Sessions, registry: Registry
) -> None:
    await submit_many(sessionmaker, registry, caller, 4)

    first = (await client.get(LIST, headers=caller.headers, params={"page_size": 2})).json()
    second = (
        await client.get(
            LIST,
            headers=caller.headers,
            params={"page_size": 2, "page_token": first["next_page_token"]},
        )
    ).json()

    assert len(second["operations"]) == 2
    assert second["next_page_token"] is None


async def test_pagination_keeps_the_filters(
    client: httpx.AsyncClient, caller: ApiCaller, sessionmaker: Sessions, registry: Registry
) -> None:
    sleeps = [await submit(sessionmaker, registry, caller, "test.sleep") for _ in range(3)]
    await submit_many(sessionmaker, registry, caller, 3)
    params: dict[str, Any] = {"kind": "test.sleep", "page_size": 2}

    first = (await client.get(LIST, headers=caller.headers, params=params)).json()
    params["page_token"] = first["next_page_token"]
    second = (await client.get(LIST, headers=caller.headers, params=params)).json()

    seen = [op["id"] for op in first["operations"] + second["operations"]]
    assert seen == [str(i) for i in reversed(sleeps)]
    assert second["next_page_token"] is None


async def test_operations_created_after_the_first_page_do_not_shift_later_pages(
    client: httpx.AsyncClient, caller: ApiCaller, sessionmaker: Sessions, registry: Registry
) -> None:
    ids = await submit_many(sessionmaker, registry, caller, 4)
    first = (await client.get(LIST, headers=caller.headers, params={"page_size": 2})).json()
    await submit_many(sessionmaker, registry, caller, 2)

    second = (
        await client.get(
            LIST,
            headers=caller.headers,
            params={"page_size": 2, "page_token": first["next_page_token"]},
        )
    ).json()

    assert [op["id"] for op in second["operations"]] == [str(ids[1]), str(ids[0])]


@pytest.mark.parametrize(
    "token",
    [
        "not-a-token",
        "!!!!",
        "é",
        base64.urlsafe_b64encode(b"v2:" + uuid.uuid4().bytes).decode(),
        base64.urlsafe_b64encode(b"v1:short").decode(),
    ],
    ids=["garbage", "punctuation", "non-ascii", "other-version", "truncated"],
)
async def test_an_invalid_page_token_is_422_invalid_page_token(
    client: httpx.AsyncClient, caller: ApiCaller, token: str
) -> None:
    response = await client.get(LIST, headers=caller.headers, params={"page_token": token})

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "INVALID_PAGE_TOKEN"


async def test_a_page_token_never_reveals_another_tenants_operations(
    client: httpx.AsyncClient,
    caller: ApiCaller,
    make_caller: KeyFactory,
    sessionmaker: Sessions,
    registry: Registry,
) -> None:
    other = await make_caller()
    await submit_many(sessionmaker, registry, other, 3)
    await submit_many(sessionmaker, registry, caller, 3)
    first = (await client.get(LIST, headers=other.headers, params={"page_size": 1})).json()

    ids = await list_ids(client, caller, {"page_token": first["next_page_token"]})

    assert ids == []
