"""The ``webhook.deliver`` handler: one signed POST of one message to one endpoint.

Each attempt is written to the endpoint's delivery log. A 2xx answer completes the
delivery; 410 Gone disables the endpoint; any other answer, a timeout or a
connection error fails the attempt retryably, so the engine retries it with backoff
until the kind's attempts are spent.
"""

from __future__ import annotations

import json
import time
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import func, update

from backend.config import Settings
from backend.operations.context import OperationContext
from backend.operations.delivery_models import WebhookDelivery, WebhookEndpoint
from backend.operations.exceptions import PermanentFailure, RetryableFailure
from backend.operations.registry import Handler
from backend.operations.webhook_targets import (
    InvalidWebhookUrl,
    TargetPolicy,
    TargetRefused,
    check_url,
    pinned,
    resolve,
)
from backend.operations.webhooks import DeliverParams, sign

USER_AGENT = "opsapi-webhooks/1"
# What the log keeps of an error: enough to tell causes apart, never a whole page.
MAX_ERROR_LENGTH = 300


def body_of(params: DeliverParams) -> bytes:
    """The request body: the same bytes at every attempt."""
    envelope = {
        "type": params.event_type,
        "timestamp": params.payload.get("finished_at"),
        "data": params.payload,
    }
    return json.dumps(envelope, separators=(",", ":"), ensure_ascii=False).encode()


def signing_secrets(endpoint: WebhookEndpoint, now: float) -> list[str]:
    """The current secret, and the previous one while its overlap lasts."""
    active = [endpoint.secret]
    expires = endpoint.previous_secret_expires_at
    if endpoint.previous_secret and expires is not None and expires.timestamp() > now:
        active.append(endpoint.previous_secret)
    return active


def make_handler(settings: Settings) -> Handler:
    policy = TargetPolicy.from_settings(settings)
    timeout = settings.webhooks.timeout_seconds
    retention = timedelta(seconds=settings.webhooks.log_retention_seconds)

    async def deliver(ctx: OperationContext, params: DeliverParams) -> dict[str, Any]:
        async with ctx.sessionmaker() as session:
            endpoint = await session.get(WebhookEndpoint, params.endpoint_id)
        if endpoint is None or endpoint.tenant_id != ctx.tenant_id or not endpoint.enabled:
            raise PermanentFailure(
                "WEBHOOK_ENDPOINT_DISABLED",
                "The webhook endpoint was deleted or disabled before this delivery.",
            )
        log = _DeliveryLog(ctx, params, retention)
        try:
            # Checked again: the allow-lists may have changed since the endpoint was made.
            url = check_url(endpoint.url, policy)
            address = await resolve(url, policy)
        except (InvalidWebhookUrl, TargetRefused) as exc:
            await log.write(error=str(exc))
            raise PermanentFailure(
                "WEBHOOK_TARGET_REFUSED", "The webhook URL resolves to an address not allowed."
            ) from None
        body = body_of(params)
        timestamp = int(time.time())
        signature = " ".join(
            sign(secret, params.message_id, timestamp, body)
            for secret in signing_secrets(endpoint, time.time())
        )
        target, host, extensions = pinned(url, address)
        headers = {
            **host,
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            "webhook-id": params.message_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signature,
        }
        started = time.perf_counter()
        try:
            # Redirects are not followed: they could lead anywhere, past the checks.
            async with httpx.AsyncClient(
                timeout=timeout, follow_redirects=False, trust_env=False
            ) as http:
                answer = await http.post(
                    target, content=body, headers=headers, extensions=extensions
                )
        except httpx.HTTPError as exc:
            latency = (time.perf_counter() - started) * 1000
            await log.write(latency_ms=latency, error=_describe(exc))
            raise RetryableFailure(
                "WEBHOOK_UNREACHABLE", "The webhook endpoint could not be reached."
            ) from None
        latency = (time.perf_counter() - started) * 1000
        succeeded = 200 <= answer.status_code < 300
        await log.write(latency_ms=latency, status_code=answer.status_code, succeeded=succeeded)
        if succeeded:
            return {"status_code": answer.status_code}
        if answer.status_code == 410:
            await _disable(ctx, endpoint, "The endpoint answered 410 Gone.")
            raise PermanentFailure(
                "WEBHOOK_ENDPOINT_GONE", "The endpoint answered 410 Gone and was disabled."
            )
        raise RetryableFailure(
            "WEBHOOK_REJECTED", f"The webhook endpoint answered {answer.status_code}."
        )

    return deliver


class _DeliveryLog:
    """Writes attempts to the delivery log, each in a short transaction of its own (a
    failed attempt's log entry must survive its rollback)."""

    def __init__(self, ctx: OperationContext, params: DeliverParams, retention: timedelta) -> None:
        self._ctx = ctx
        self._params = params
        self._retention = retention

    async def write(
        self,
        *,
        latency_ms: float | None = None,
        status_code: int | None = None,
        succeeded: bool = False,
        error: str | None = None,
    ) -> None:
        async with self._ctx.sessionmaker() as session:
            session.add(
                WebhookDelivery(
                    endpoint_id=self._params.endpoint_id,
                    message_id=self._params.message_id,
                    event_type=self._params.event_type,
                    operation_id=self._params.operation_id,
                    delivery_operation_id=self._ctx.operation_id,
                    attempt=self._ctx.attempt,
                    status_code=status_code,
                    latency_ms=None if latency_ms is None else round(latency_ms, 3),
                    error=None if error is None else error[:MAX_ERROR_LENGTH],
                    succeeded=succeeded,
                    expires_at=func.now() + self._retention,
                )
            )
            await session.commit()


async def _disable(ctx: OperationContext, endpoint: WebhookEndpoint, reason: str) -> None:
    async with ctx.sessionmaker() as session:
        await session.execute(
            update(WebhookEndpoint)
            .where(WebhookEndpoint.id == endpoint.id)
            .values(enabled=False, disabled_reason=reason, updated_at=func.now())
        )
        await session.commit()
    ctx.log.warning("webhook endpoint disabled", endpoint_id=str(endpoint.id), reason=reason)


def _describe(exc: httpx.HTTPError) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return f"Timed out ({type(exc).__name__})."
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
