"""Tables of delivery to clients: the event log, idempotency keys, webhooks.

The event log and the webhook outbox are written by triggers on ``operations``
(migration 0003), so every writer of an operation produces them in its own
transaction; the application only reads them.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from backend.db import Base
from backend.ids import new_id


class OperationEvent(Base):
    """One change of an operation: ``seq`` is the operation's version after it."""

    __tablename__ = "operation_events"

    # The primary key serves reading an operation's events in order and the cascade
    # when its operation is deleted.
    operation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("operations.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    type: Mapped[str] = mapped_column(String(64))
    data: Mapped[Any] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class IdempotencyKey(Base):
    """The first answer to a create request, kept per caller and key for replays."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (
        CheckConstraint("state IN ('in_flight', 'completed')", name="state"),
        # Serves pruning of expired keys.
        Index("ix_idempotency_keys_expires_at", "expires_at"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    principal_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("principals.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    request_method: Mapped[str] = mapped_column(String(10))
    request_path: Mapped[str] = mapped_column(Text)
    request_hash: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(20))
    # Which request holds the key: its completion is fenced on it, so a request
    # that outlived its lock cannot complete a key another request took over.
    claim_id: Mapped[uuid.UUID]
    response_status: Mapped[int | None] = mapped_column(Integer)
    response_headers: Mapped[dict[str, str] | None] = mapped_column(JSONB)
    response_body: Mapped[bytes | None] = mapped_column(LargeBinary)
    # An in-flight claim older than this was abandoned (its process died): another
    # request with the same key may take it over.
    locked_until: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    expires_at: Mapped[datetime]


class WebhookEndpoint(Base):
    """A tenant's receiver of operation webhooks."""

    __tablename__ = "webhook_endpoints"
    __table_args__ = (
        # Serves listing a tenant's endpoints and the outbox trigger's lookup.
        Index("ix_webhook_endpoints_tenant_id", "tenant_id", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(String(500))
    event_types: Mapped[list[str]] = mapped_column(ARRAY(String(50)))
    secret: Mapped[str] = mapped_column(String(100))
    # The secret before the last rotation keeps signing until it expires, so a
    # receiver can switch without rejecting deliveries.
    previous_secret: Mapped[str | None] = mapped_column(String(100))
    previous_secret_expires_at: Mapped[datetime | None]
    enabled: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())


class WebhookOutbox(Base):
    """A finished operation waiting to be turned into deliveries by the maintenance
    leader. Written by a trigger in the transaction that finished the operation, so
    a change that rolls back never leaves a row here."""

    __tablename__ = "webhook_outbox"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    operation_id: Mapped[uuid.UUID]
    seq: Mapped[int] = mapped_column(Integer)
    event_type: Mapped[str] = mapped_column(String(50))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class WebhookDelivery(Base):
    """One attempt to deliver one message to one endpoint: the delivery log."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        # Serves the endpoint's delivery log, newest first (keyset on the time-ordered id).
        Index("ix_webhook_deliveries_endpoint_id", "endpoint_id", "id"),
        # Serves pruning of old log entries.
        Index("ix_webhook_deliveries_expires_at", "expires_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    endpoint_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("webhook_endpoints.id", ondelete="CASCADE")
    )
    message_id: Mapped[str] = mapped_column(String(100))
    event_type: Mapped[str] = mapped_column(String(50))
    # Not foreign keys: the log outlives pruned operations.
    operation_id: Mapped[uuid.UUID]
    delivery_operation_id: Mapped[uuid.UUID]
    attempt: Mapped[int] = mapped_column(Integer)
    status_code: Mapped[int | None] = mapped_column(Integer)
    latency_ms: Mapped[float | None] = mapped_column(Float)
    error: Mapped[str | None] = mapped_column(Text)
    succeeded: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    expires_at: Mapped[datetime]
