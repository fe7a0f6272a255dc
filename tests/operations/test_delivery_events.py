"""GET /operations/{id}/events: server-sent events through real uvicorn processes."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.client import OperationEvent, OperationsClient
from backend.config import Settings
from backend.operations.registry import Registry
from tests.conftest import ApiCaller, KeyFactory
from tests.factories import ApiServer, api_server, running_worker, submit, wait_until

Sessions = async_sessionmaker[AsyncSession]


@pytest.fixture
async def server(database_url: str) -> AsyncIterator[ApiServer]:
    async with api_server(database_url, OPSAPI_EVENTS__PING_SECONDS="0.2") as server:
        yield server


async def collect(
    client: OperationsClient, op_id: uuid.UUID, **options: int
) -> list[OperationEvent]:
    async with asyncio.timeout(20):
        return [event async for event in client.stream(op_id, **options)]


async def raw_events(
    server: ApiServer, caller: ApiCaller, op_id: uuid.UUID, headers: dict[str, str] | None = None
) -> tuple[int, list[str]]:
    """The status and the raw lines of one stream, read until the server closes it."""
    async with (
        httpx.AsyncClient(base_url=server.url, timeout=20) as http,
        http.stream(
            "GET",
            f"/api/v1/operations/{op_id}/events",
            headers={**caller.headers, **(headers or {})},
        ) as response,
    ):
        return response.status_code, [line async for line in response.aiter_lines()]


async def test_a_stream_receives_every_event_in_order_through_completion(
    server: ApiServer,
    caller: ApiCaller,
    sessionmaker: Sessions,
    registry: Registry,
    database_url: str,
    settings: Settings,
) -> None:
    op_id = await submit(sessionmaker, registry, caller, "test.chatter", {"chunks": ["a", "b"]})
    async with OperationsClient(server.url, caller.key) as client:
        reading = asyncio.create_task(collect(client, op_id))
        async with running_worker(database_url, registry, settings):
            events = await reading

    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert [e.type for e in events] == ["created", "status", "text.delta", "text.delta", "status"]
    assert [e.data["status"] for e in events if e.type == "status"] == ["processing", "completed"]
    assert [e.data["text"] for e in events if e.type == "text.delta"] == ["a", "b"]
    assert events[-1].done
    assert events[-1].data["result"] == {"text": "ab"}


async def test_resuming_with_last_event_id_gets_exactly_the_missed_events(
    server: ApiServer,
    caller: ApiCaller,
    sessionmaker: Sessions,
    registry: Registry,
    database_url: str,
    settings: Settings,
) -> None:
    op_id = await submit(sessionmaker, registry, caller, "test.chatter", {"chunks": ["x"]})
    async with OperationsClient(server.url, caller.key) as client:
        stream = client.stream(op_id)
        first = await asyncio.wait_for(anext(stream), timeout=10)
        await stream.aclose()  # the client drops the connection after the first event
        async with running_worker(database_url, registry, settings):
            await wait_until(sessionmaker, op_id, {"completed"})
        async with OperationsClient(server.url, caller.key) as again:
            missed = await collect(again, op_id, after=first.seq)

    assert first.seq == 1
    assert [e.seq for e in missed] == [2, 3, 4]
    assert [e.type for e in missed] == ["status", "text.delta", "status"]


async def test_the_client_resumes_after_the_maximum_connection_lifetime_without_loss_or_repeat(
    database_url: str,
    caller: ApiCaller,
    sessionmaker: Sessions,
    registry: Registry,
    settings: Settings,
) -> None:
    chunks = [str(i) for i in range(8)]
    op_id = await submit(
        sessionmaker, registry, caller, "test.chatter", {"chunks": chunks, "pause": 0.15}
    )
    lifetime = {"OPSAPI_EVENTS__MAX_CONNECTION_SECONDS": "0.4", "OPSAPI_EVENTS__RETRY_MS": "50"}
    async with (
        api_server(database_url, **lifetime) as server,
        OperationsClient(server.url, caller.key) as client,
    ):
        reading = asyncio.create_task(collect(client, op_id))
        async with running_worker(database_url, registry, settings):
            events = await reading

    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert [e.data["text"] for e in events if e.type == "text.delta"] == chunks
    assert events[-1].done


async def test_two_api_processes_both_deliver_to_their_clients(
    database_url: str,
    caller: ApiCaller,
    sessionmaker: Sessions,
    registry: Registry,
    settings: Settings,
) -> None:
    op_id = await submit(sessionmaker, registry, caller, "test.chatter", {"chunks": ["1", "2"]})
    async with (
        api_server(database_url) as first,
        api_server(database_url) as second,
        OperationsClient(first.url, caller.key) as one,
        OperationsClient(second.url, caller.key) as two,
    ):
        readers = [asyncio.create_task(collect(c, op_id)) for c in (one, two)]
        await asyncio.sleep(0.3)  # both streams are open before the work starts
        async with running_worker(database_url, registry, settings):
            seen_by_first, seen_by_second = await asyncio.gather(*readers)

    assert [e.seq for e in seen_by_first] == [1, 2, 3, 4, 5]
    assert seen_by_first == seen_by_second


async def test_a_resumed_stream_with_nothing_missed_starts_with_a_snapshot(
    server: ApiServer, caller: ApiCaller, sessionmaker: Sessions, registry: Registry
) -> None:
    op_id = await submit(sessionmaker, registry, caller, "test.echo")
    async with OperationsClient(server.url, caller.key) as client:
        stream = client.stream(op_id, after=1)
        snapshot = await asyncio.wait_for(anext(stream), timeout=10)
        await client.cancel(op_id)
        cancelled = await asyncio.wait_for(anext(stream), timeout=10)
        await stream.aclose()

    assert (snapshot.seq, snapshot.type) == (1, "snapshot")
    assert snapshot.data["id"] == str(op_id)
    assert snapshot.data["status"] == "pending"
    assert (cancelled.seq, cancelled.type, cancelled.data["status"]) == (2, "status", "cancelled")
    assert cancelled.done


async def test_a_stream_sends_keep_alive_comments_and_advises_a_reconnection_delay(
    server: ApiServer, caller: ApiCaller, sessionmaker: Sessions, registry: Registry
) -> None:
    op_id = await submit(sessionmaker, registry, caller, "test.echo")
    lines: list[str] = []
    async with (
        httpx.AsyncClient(base_url=server.url, timeout=10) as http,
        http.stream("GET", f"/api/v1/operations/{op_id}/events", headers=caller.headers) as answer,
    ):
        async for line in answer.aiter_lines():
            lines.append(line)
            if sum(line.startswith(":") for line in lines) >= 2:
                break

    assert answer.headers["content-type"].startswith("text/event-stream")
    assert answer.headers["cache-control"] == "no-store"
    assert lines[:4] == ["id: 1", "event: created", lines[2], "retry: 1000"]
    assert lines[2].startswith("data: {")


async def test_a_reconnection_to_a_finished_operation_that_missed_nothing_is_204(
    server: ApiServer, caller: ApiCaller, sessionmaker: Sessions, registry: Registry
) -> None:
    op_id = await submit(sessionmaker, registry, caller, "test.echo")
    async with OperationsClient(server.url, caller.key) as client:
        await client.cancel(op_id)
        events = await collect(client, op_id)

        status, lines = await raw_events(server, caller, op_id, {"Last-Event-ID": "2"})

    assert [e.type for e in events] == ["created", "status"]
    assert (status, lines) == (204, [])


async def test_a_stream_from_the_start_of_a_finished_operation_replays_it_and_closes(
    server: ApiServer, caller: ApiCaller, sessionmaker: Sessions, registry: Registry
) -> None:
    op_id = await submit(sessionmaker, registry, caller, "test.echo")
    async with OperationsClient(server.url, caller.key) as client:
        await client.cancel(op_id)

    status, lines = await raw_events(server, caller, op_id)

    assert status == 200
    assert [line for line in lines if line.startswith("id:")] == ["id: 1", "id: 2"]


async def test_another_tenants_operation_has_no_stream(
    client: httpx.AsyncClient,
    caller: ApiCaller,
    make_caller: KeyFactory,
    sessionmaker: Sessions,
    registry: Registry,
) -> None:
    op_id = await submit(sessionmaker, registry, caller, "test.echo")
    stranger = await make_caller()

    response = await client.get(f"/api/v1/operations/{op_id}/events", headers=stranger.headers)

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "OPERATION_NOT_FOUND"


@pytest.mark.parametrize("last_event_id", ["soon", "-1", "1.5", "99999999999"])
async def test_a_last_event_id_that_is_not_an_event_id_is_422(
    client: httpx.AsyncClient,
    caller: ApiCaller,
    sessionmaker: Sessions,
    registry: Registry,
    last_event_id: str,
) -> None:
    op_id = await submit(sessionmaker, registry, caller, "test.echo")

    response = await client.get(
        f"/api/v1/operations/{op_id}/events",
        headers={**caller.headers, "Last-Event-ID": last_event_id},
    )

    assert response.status_code == 422
    assert response.json()["code"] == "INVALID_LAST_EVENT_ID"
