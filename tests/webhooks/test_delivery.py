"""Webhook delivery: signed after commit, retried, disabled on 410, secrets rotated."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import httpx
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.config import Settings
from backend.operations.delivery_models import WebhookEndpoint, WebhookOutbox
from backend.operations.models import Operation
from backend.operations.registry import Registry
from backend.operations.states import Status
from backend.operations.webhooks import register_webhooks
from tests import kinds
from tests.conftest import ApiCaller
from tests.factories import running_worker, submit, wait_for
from tests.operations.rows import move_to
from tests.webhooks.conftest import Receiver, Verifier

Sessions = async_sessionmaker[AsyncSession]
ENDPOINTS = "/api/v1/webhook-endpoints"


async def register(
    client: httpx.AsyncClient, admin: ApiCaller, receiver: Receiver, **body: Any
) -> dict[str, Any]:
    response = await client.post(
        ENDPOINTS, json={"url": receiver.url, **body}, headers=admin.headers
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def deliveries(
    client: httpx.AsyncClient, admin: ApiCaller, endpoint_id: str
) -> list[dict[str, Any]]:
    response = await client.get(f"{ENDPOINTS}/{endpoint_id}/deliveries", headers=admin.headers)
    assert response.status_code == 200
    found: list[dict[str, Any]] = response.json()["deliveries"]
    return found


async def test_a_completed_operation_is_delivered_signed_with_the_published_algorithm(
    client: httpx.AsyncClient,
    admin: ApiCaller,
    receiver: Receiver,
    verify_webhook: Verifier,
    sessionmaker: Sessions,
    registry: Registry,
    database_url: str,
    settings: Settings,
) -> None:
    endpoint = await register(client, admin, receiver)
    op_id = await submit(sessionmaker, registry, admin, "test.echo", {"value": "hi"})

    async with running_worker(database_url, registry, settings):
        [request] = await receiver.wait_for(1)
        log = await _wait_for_log(client, admin, endpoint["id"], 1)

    body = json.loads(request.body)
    assert verify_webhook(endpoint["secret"], request.headers, request.body)
    assert not verify_webhook("whsec_" + "A" * 44, request.headers, request.body)
    assert request.headers["webhook-id"] == f"msg_{op_id.hex}_3"
    assert request.headers["content-type"] == "application/json"
    assert body["type"] == "operation.completed"
    assert body["data"]["id"] == str(op_id)
    assert body["data"]["result"] == {"echo": "hi"}
    assert body["timestamp"] == body["data"]["finished_at"]
    assert [(d["attempt"], d["status_code"], d["succeeded"]) for d in log] == [(1, 204, True)]
    assert log[0]["message_id"] == request.headers["webhook-id"]
    assert log[0]["operation_id"] == str(op_id)
    assert log[0]["latency_ms"] >= 0


async def test_a_delivery_answered_with_500_is_retried_until_it_succeeds(
    client: httpx.AsyncClient,
    admin: ApiCaller,
    receiver: Receiver,
    sessionmaker: Sessions,
    registry: Registry,
    database_url: str,
    settings: Settings,
) -> None:
    endpoint = await register(client, admin, receiver)
    receiver.answers = [500, 503]
    await submit(sessionmaker, registry, admin, "test.echo")

    async with running_worker(database_url, registry, settings):
        requests = await receiver.wait_for(3)
        log = await _wait_for_log(client, admin, endpoint["id"], 3)

    assert len({r.headers["webhook-id"] for r in requests}) == 1
    assert len({r.body for r in requests}) == 1
    outcomes = sorted((d["attempt"], d["status_code"], d["succeeded"]) for d in log)
    assert outcomes == [(1, 500, False), (2, 503, False), (3, 204, True)]


async def _wait_for_log(
    client: httpx.AsyncClient, admin: ApiCaller, endpoint_id: str, count: int
) -> list[dict[str, Any]]:
    """Poll the delivery log until it has ``count`` entries (a bound, not a timing claim)."""
    async with asyncio.timeout(15):
        while True:
            log = await deliveries(client, admin, endpoint_id)
            if len(log) >= count:
                return log
            await asyncio.sleep(0.05)


async def test_an_endpoint_answering_410_is_disabled_and_receives_nothing_more(
    client: httpx.AsyncClient,
    admin: ApiCaller,
    receiver: Receiver,
    sessionmaker: Sessions,
    registry: Registry,
    database_url: str,
    settings: Settings,
) -> None:
    endpoint = await register(client, admin, receiver)
    receiver.answers = [410]
    first = await submit(sessionmaker, registry, admin, "test.echo")

    async with running_worker(database_url, registry, settings):
        await receiver.wait_for(1)
        delivery = await _delivery_of(sessionmaker, first)
        failed = await wait_for(sessionmaker, delivery, lambda op: op.state.done, "done")
        second = await submit(sessionmaker, registry, admin, "test.echo")
        await wait_for(sessionmaker, second, lambda op: op.state.done, "done")
    shown = await client.get(f"{ENDPOINTS}/{endpoint['id']}", headers=admin.headers)

    assert failed.status == "failed"
    assert failed.error is not None and failed.error["code"] == "WEBHOOK_ENDPOINT_GONE"
    assert shown.json()["enabled"] is False
    assert "410" in shown.json()["disabled_reason"]
    assert len(receiver.requests) == 1
    assert await _outbox_size(sessionmaker) == 0


async def _delivery_of(sessionmaker: Sessions, op_id: uuid.UUID) -> uuid.UUID:
    """The webhook.deliver operation about ``op_id`` (waits until it is scheduled)."""
    async with asyncio.timeout(15):
        while True:
            async with sessionmaker() as session:
                found = await session.scalar(
                    select(Operation.id).where(
                        Operation.kind == "webhook.deliver",
                        Operation.params["operation_id"].astext == str(op_id),
                    )
                )
            if found is not None:
                return found
            await asyncio.sleep(0.05)


async def _outbox_size(sessionmaker: Sessions) -> int:
    async with sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(WebhookOutbox)) or 0)


async def test_a_change_that_rolls_back_delivers_nothing(
    client: httpx.AsyncClient,
    admin: ApiCaller,
    receiver: Receiver,
    sessionmaker: Sessions,
    registry: Registry,
    database_url: str,
    settings: Settings,
) -> None:
    await register(client, admin, receiver)
    rolled_back = await submit(sessionmaker, registry, admin, "test.echo")
    async with sessionmaker() as session:
        await session.execute(
            update(Operation)
            .where(Operation.id == rolled_back)
            .values(status="cancelled", version=Operation.version + 1)
        )
        await session.rollback()
    sentinel = await submit(sessionmaker, registry, admin, "test.echo")
    await move_to(sessionmaker, sentinel, Status.cancelled)

    async with running_worker(database_url, registry, settings, kinds=["webhook.deliver"]):
        [request] = await receiver.wait_for(1)
        await _delivery_of(sessionmaker, sentinel)

    assert json.loads(request.body)["data"]["id"] == str(sentinel)
    assert json.loads(request.body)["type"] == "operation.cancelled"
    assert await _outbox_size(sessionmaker) == 0


async def test_after_a_rotation_both_secrets_sign_until_the_overlap_ends(
    client: httpx.AsyncClient,
    admin: ApiCaller,
    receiver: Receiver,
    verify_webhook: Verifier,
    sessionmaker: Sessions,
    registry: Registry,
    database_url: str,
    settings: Settings,
) -> None:
    endpoint = await register(client, admin, receiver)
    rotate = f"{ENDPOINTS}/{endpoint['id']}/rotate-secret"
    rotated = await client.post(rotate, headers=admin.headers)
    old, new = endpoint["secret"], rotated.json()["secret"]

    async with running_worker(database_url, registry, settings):
        await submit(sessionmaker, registry, admin, "test.echo")
        [during] = await receiver.wait_for(1)
        async with sessionmaker() as session:
            await session.execute(
                update(WebhookEndpoint).values(previous_secret_expires_at=func.now())
            )
            await session.commit()
        await submit(sessionmaker, registry, admin, "test.echo")
        after = (await receiver.wait_for(2))[1]

    assert rotated.status_code == 200
    assert new != old and new.startswith("whsec_")
    assert len(during.headers["webhook-signature"].split(" ")) == 2
    assert verify_webhook(old, during.headers, during.body)
    assert verify_webhook(new, during.headers, during.body)
    assert verify_webhook(new, after.headers, after.body)
    assert not verify_webhook(old, after.headers, after.body)


async def test_only_subscribed_event_types_are_delivered(
    client: httpx.AsyncClient,
    admin: ApiCaller,
    receiver: Receiver,
    sessionmaker: Sessions,
    registry: Registry,
    database_url: str,
    settings: Settings,
) -> None:
    await register(client, admin, receiver, event_types=["operation.failed"])
    await submit(sessionmaker, registry, admin, "test.echo")
    failing = await submit(sessionmaker, registry, admin, "test.fail", {"retryable": False})

    async with running_worker(database_url, registry, settings):
        [request] = await receiver.wait_for(1)
        await _delivery_of(sessionmaker, failing)

    body = json.loads(request.body)
    assert (body["type"], body["data"]["id"]) == ("operation.failed", str(failing))
    assert body["data"]["error"]["code"] == "BOOM"


async def test_a_delivery_to_a_target_no_longer_allowed_is_refused_and_logged(
    client: httpx.AsyncClient,
    admin: ApiCaller,
    receiver: Receiver,
    sessionmaker: Sessions,
    database_url: str,
    settings: Settings,
) -> None:
    endpoint = await register(client, admin, receiver)
    strict = settings.model_copy(update={"environment": "production"})
    production = Registry()
    register_webhooks(production, strict)
    kinds.register(production)
    op_id = await submit(sessionmaker, production, admin, "test.echo")

    async with running_worker(database_url, production, strict):
        delivery = await _delivery_of(sessionmaker, op_id)
        refused = await wait_for(sessionmaker, delivery, lambda op: op.state.done, "done")
    log = await deliveries(client, admin, endpoint["id"])

    assert refused.error is not None and refused.error["code"] == "WEBHOOK_TARGET_REFUSED"
    assert receiver.requests == []
    assert [(d["status_code"], d["succeeded"]) for d in log] == [(None, False)]
    assert "http" in log[0]["error"]


async def test_an_endpoint_disabled_after_410_receives_again_once_re_enabled(
    client: httpx.AsyncClient,
    admin: ApiCaller,
    receiver: Receiver,
    sessionmaker: Sessions,
    registry: Registry,
    database_url: str,
    settings: Settings,
) -> None:
    endpoint = await register(client, admin, receiver)
    receiver.answers = [410]
    gone = await submit(sessionmaker, registry, admin, "test.echo")
    async with running_worker(database_url, registry, settings):
        await receiver.wait_for(1)
        delivery = await _delivery_of(sessionmaker, gone)
        await wait_for(sessionmaker, delivery, lambda op: op.state.done, "done")

    receiver.answers = [204]
    enabled = await client.patch(
        f"{ENDPOINTS}/{endpoint['id']}", json={"enabled": True}, headers=admin.headers
    )
    after = await submit(sessionmaker, registry, admin, "test.echo")
    async with running_worker(database_url, registry, settings):
        await receiver.wait_for(2)
        delivery = await _delivery_of(sessionmaker, after)
        delivered = await wait_for(sessionmaker, delivery, lambda op: op.state.done, "done")

    assert enabled.status_code == 200
    assert enabled.json()["enabled"] is True and enabled.json()["disabled_reason"] is None
    assert delivered.status == "completed"
    assert str(after) in receiver.requests[1].body.decode()
