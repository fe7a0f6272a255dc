"""Webhooks (Standard Webhooks): endpoints, secrets and signatures, and scheduling.

Scheduling is after commit by construction: a trigger writes a finished operation
to ``webhook_outbox`` in the transaction that finished it (nothing is written if it
rolls back), and the maintenance leader turns outbox rows into ``webhook.deliver``
operations, one per subscribed endpoint, in one transaction with their removal from
the outbox. Those operations get the engine's retries, backoff, leases and fencing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import uuid
from datetime import timedelta
from typing import Any

from pydantic import BaseModel
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from backend.config import Settings
from backend.errors import Conflict, NotFound
from backend.operations import repository, service
from backend.operations.delivery_models import WebhookDelivery, WebhookEndpoint
from backend.operations.models import Operation
from backend.operations.registry import Registry
from backend.operations.webhook_schemas import WebhookEndpointCreate, WebhookEndpointUpdate
from backend.operations.webhook_targets import TargetPolicy, check_resolved, check_url

DELIVER_KIND = "webhook.deliver"
SECRET_PREFIX = "whsec_"


class WebhookEndpointNotFound(NotFound):
    code = "WEBHOOK_ENDPOINT_NOT_FOUND"
    title = "Webhook endpoint not found"

    def __init__(self) -> None:
        super().__init__("No webhook endpoint with this id exists for your tenant.")


class WebhookEndpointLimit(Conflict):
    code = "WEBHOOK_ENDPOINT_LIMIT"
    title = "Too many webhook endpoints"

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"Your tenant already has {limit} webhook endpoints, the most allowed. Delete "
            "one you no longer use first."
        )


class DeliverParams(BaseModel):
    endpoint_id: uuid.UUID
    message_id: str
    event_type: str
    operation_id: uuid.UUID
    payload: dict[str, Any]


# -- secrets and signatures ----------------------------------------------------------


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """``v1,<base64 HMAC-SHA256>`` of ``{id}.{timestamp}.{body}`` with the secret's
    bytes (the base64 after ``whsec_``), as the Standard Webhooks spec defines."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    content = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()


def message_id(operation_id: uuid.UUID, seq: int) -> str:
    """The ``webhook-id`` of the event: the same for every attempt and endpoint."""
    return f"msg_{operation_id.hex}_{seq}"


# -- endpoints ------------------------------------------------------------------------


async def create_endpoint(
    session: AsyncSession, settings: Settings, tenant_id: uuid.UUID, body: WebhookEndpointCreate
) -> WebhookEndpoint:
    policy = TargetPolicy.from_settings(settings)
    url = check_url(body.url, policy)
    await check_resolved(url, policy)
    # One endpoint creation at a time per tenant, so the limit holds under races.
    await session.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
        {"key": f"webhook-endpoints:{tenant_id}"},
    )
    count = await session.scalar(select(func.count()).where(WebhookEndpoint.tenant_id == tenant_id))
    limit = settings.webhooks.max_endpoints_per_tenant
    if (count or 0) >= limit:
        raise WebhookEndpointLimit(limit)
    endpoint = WebhookEndpoint(
        tenant_id=tenant_id,
        url=body.url,
        description=body.description,
        event_types=sorted({t.value for t in body.event_types}),
        secret=new_secret(),
    )
    session.add(endpoint)
    await session.flush()
    await session.refresh(endpoint)
    return endpoint


async def list_endpoints(session: AsyncSession, tenant_id: uuid.UUID) -> list[WebhookEndpoint]:
    rows = await session.scalars(
        select(WebhookEndpoint)
        .where(WebhookEndpoint.tenant_id == tenant_id)
        .order_by(WebhookEndpoint.id)
    )
    return list(rows)


async def get_endpoint(
    session: AsyncSession, tenant_id: uuid.UUID, endpoint_id: uuid.UUID, *, lock: bool = False
) -> WebhookEndpoint:
    stmt = select(WebhookEndpoint).where(
        WebhookEndpoint.id == endpoint_id, WebhookEndpoint.tenant_id == tenant_id
    )
    endpoint = await session.scalar(stmt.with_for_update() if lock else stmt)
    if endpoint is None:
        raise WebhookEndpointNotFound()
    return endpoint


async def delete_endpoint(
    session: AsyncSession, tenant_id: uuid.UUID, endpoint_id: uuid.UUID
) -> None:
    """Deletes the endpoint and its delivery log; its pending deliveries then fail."""
    endpoint = await get_endpoint(session, tenant_id, endpoint_id)
    await session.execute(delete(WebhookEndpoint).where(WebhookEndpoint.id == endpoint.id))


async def update_endpoint(
    session: AsyncSession,
    settings: Settings,
    tenant_id: uuid.UUID,
    endpoint_id: uuid.UUID,
    body: WebhookEndpointUpdate,
) -> WebhookEndpoint:
    """Changes the fields given. Re-enabling clears the reason it was disabled; deliveries
    resume with the next operation that finishes (missed ones are not replayed)."""
    endpoint = await get_endpoint(session, tenant_id, endpoint_id, lock=True)
    values: dict[str, object] = {}
    if body.url is not None:
        policy = TargetPolicy.from_settings(settings)
        await check_resolved(check_url(body.url, policy), policy)
        values["url"] = body.url
    if body.event_types is not None:
        values["event_types"] = sorted({t.value for t in body.event_types})
    if "description" in body.model_fields_set:
        values["description"] = body.description
    if body.enabled is not None:
        values["enabled"] = body.enabled
        values["disabled_reason"] = None if body.enabled else "Paused by an admin."
    if values:
        await session.execute(
            update(WebhookEndpoint)
            .where(WebhookEndpoint.id == endpoint.id)
            .values(**values, updated_at=func.now())
        )
        await session.refresh(endpoint)
    return endpoint


async def rotate_secret(
    session: AsyncSession, settings: Settings, tenant_id: uuid.UUID, endpoint_id: uuid.UUID
) -> WebhookEndpoint:
    """A new secret; the current one keeps signing too for the overlap period."""
    endpoint = await get_endpoint(session, tenant_id, endpoint_id, lock=True)
    overlap = timedelta(seconds=settings.webhooks.secret_overlap_seconds)
    await session.execute(
        update(WebhookEndpoint)
        .where(WebhookEndpoint.id == endpoint.id)
        .values(
            previous_secret=WebhookEndpoint.secret,
            previous_secret_expires_at=func.now() + overlap,
            secret=new_secret(),
            updated_at=func.now(),
        )
    )
    await session.refresh(endpoint)
    return endpoint


async def list_deliveries(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    endpoint_id: uuid.UUID,
    *,
    page_size: int,
    page_token: str | None,
) -> tuple[list[WebhookDelivery], str | None]:
    """A page of the endpoint's delivery log, newest first (served by
    ix_webhook_deliveries_endpoint_id)."""
    endpoint = await get_endpoint(session, tenant_id, endpoint_id)
    stmt = select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id)
    if page_token is not None:
        stmt = stmt.where(WebhookDelivery.id < service.decode_page_token(page_token))
    rows = list(
        await session.scalars(stmt.order_by(WebhookDelivery.id.desc()).limit(page_size + 1))
    )
    token = service.encode_page_token(rows[page_size - 1].id) if len(rows) > page_size else None
    return rows[:page_size], token


# -- scheduling (maintenance leader) --------------------------------------------------

# Oldest first; SKIP LOCKED keeps a second leader (during a hand-over) off these rows.
_TAKE_OUTBOX = text(
    """
    DELETE FROM webhook_outbox
    WHERE id IN (
        SELECT id FROM webhook_outbox ORDER BY id LIMIT :limit FOR UPDATE SKIP LOCKED
    )
    RETURNING id, tenant_id, operation_id, seq, event_type, payload
    """
)


async def schedule_deliveries(engine: AsyncEngine, registry: Registry, *, limit: int) -> int:
    """Turn up to ``limit`` outbox rows into delivery operations; answer how many rows
    were taken. Does nothing where this process cannot deliver (kind not registered)."""
    if DELIVER_KIND not in registry:
        return 0
    spec = registry.get(DELIVER_KIND)
    sessionmaker = async_sessionmaker(engine, expire_on_commit=False)
    async with sessionmaker() as session:
        rows = (await session.execute(_TAKE_OUTBOX, {"limit": limit})).all()
        if not rows:
            return 0
        endpoints = (
            await session.execute(
                select(WebhookEndpoint.id, WebhookEndpoint.tenant_id, WebhookEndpoint.event_types)
                .where(WebhookEndpoint.tenant_id.in_({r.tenant_id for r in rows}))
                .where(WebhookEndpoint.enabled)
            )
        ).all()
        deliveries = [
            Operation(
                tenant_id=row.tenant_id,
                kind=DELIVER_KIND,
                queue=spec.queue,
                max_attempts=spec.max_attempts,
                params=DeliverParams(
                    endpoint_id=endpoint.id,
                    message_id=message_id(row.operation_id, row.seq),
                    event_type=row.event_type,
                    operation_id=row.operation_id,
                    payload=row.payload,
                ).model_dump(mode="json"),
            )
            for row in sorted(rows, key=lambda r: r.id)
            for endpoint in endpoints
            if endpoint.tenant_id == row.tenant_id and row.event_type in endpoint.event_types
        ]
        session.add_all(deliveries)
        await session.flush()
        if deliveries:
            await repository.notify_pending(session, spec.queue)
        await session.commit()
    return len(rows)


async def prune_deliveries(engine: AsyncEngine, *, limit: int) -> int:
    """Delete up to ``limit`` expired delivery log entries (ix_webhook_deliveries_expires_at)."""
    async with engine.begin() as conn:
        result = await conn.execute(
            text(
                "DELETE FROM webhook_deliveries WHERE id IN (SELECT id FROM webhook_deliveries"
                " WHERE expires_at < now() ORDER BY expires_at LIMIT :limit"
                " FOR UPDATE SKIP LOCKED)"
            ),
            {"limit": limit},
        )
    count: int = result.rowcount
    return count


def register_webhooks(registry: Registry, settings: Settings) -> None:
    """Register the internal ``webhook.deliver`` kind (every process: API and worker)."""
    from backend.operations.webhook_delivery import make_handler

    hooks = settings.webhooks
    registry.register(
        DELIVER_KIND,
        make_handler(settings),
        params=DeliverParams,
        timeout=hooks.timeout_seconds + 10,
        max_attempts=hooks.max_attempts,
        backoff_base=hooks.backoff_base_seconds,
        backoff_max=max(hooks.backoff_max_seconds, hooks.backoff_base_seconds),
        poll_after=5,
    )
