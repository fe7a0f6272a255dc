"""Webhook endpoints and their delivery log as clients see them."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, StrictBool


class WebhookEventType(enum.StrEnum):
    completed = "operation.completed"
    failed = "operation.failed"
    cancelled = "operation.cancelled"


class WebhookEndpointCreate(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "url": "https://hooks.example.com/opsapi",
                    "event_types": ["operation.completed", "operation.failed"],
                    "description": "Order service",
                }
            ]
        }
    )

    url: str = Field(
        max_length=2000,
        examples=["https://hooks.example.com/opsapi"],
        description="Where deliveries are POSTed: https:// (plain http:// only for hosts the "
        "server allows).",
    )
    event_types: list[WebhookEventType] = Field(
        default_factory=lambda: list(WebhookEventType),
        min_length=1,
        description="The events to receive; all of them when omitted.",
    )
    description: str | None = Field(default=None, max_length=500)


class WebhookEndpointUpdate(BaseModel):
    """The fields to change; omitted fields keep their value."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"url": "https://hooks.example.com/v2", "enabled": True}]}
    )

    url: str | None = Field(
        default=None, max_length=2000, examples=["https://hooks.example.com/v2"]
    )
    event_types: list[WebhookEventType] | None = Field(default=None, min_length=1)
    description: str | None = Field(default=None, max_length=500)
    enabled: StrictBool | None = Field(
        default=None,
        description="`true` turns deliveries back on for an endpoint disabled after a 410 Gone "
        "(and clears `disabled_reason`); `false` pauses them.",
        examples=[True],
    )


class WebhookEndpointOut(BaseModel):
    id: uuid.UUID
    url: str
    description: str | None
    event_types: list[WebhookEventType]
    enabled: bool = Field(description="False once the endpoint answered 410 Gone.")
    disabled_reason: str | None
    created_at: datetime
    previous_secret_expires_at: datetime | None = Field(
        description="Until then deliveries also carry a signature with the previous secret."
    )


class WebhookEndpointCreated(WebhookEndpointOut):
    secret: str = Field(
        description="The signing secret (`whsec_…`). Shown only in this answer: store it now.",
        examples=["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"],
    )


class WebhookEndpointList(BaseModel):
    endpoints: list[WebhookEndpointOut]


class WebhookSecret(BaseModel):
    secret: str = Field(description="The new signing secret. Shown only in this answer.")
    previous_secret_expires_at: datetime = Field(
        description="Until then deliveries are signed with both the new and the old secret."
    )


class WebhookDeliveryOut(BaseModel):
    id: uuid.UUID
    message_id: str = Field(description="The `webhook-id` header: the same for every attempt.")
    event_type: WebhookEventType
    operation_id: uuid.UUID = Field(description="The operation the message is about.")
    delivery_operation_id: uuid.UUID = Field(
        description="The `webhook.deliver` operation that makes the attempts."
    )
    attempt: int
    status_code: int | None = Field(description="The endpoint's answer; null if none came.")
    latency_ms: float | None
    error: str | None
    succeeded: bool
    created_at: datetime


class WebhookDeliveryList(BaseModel):
    deliveries: list[WebhookDeliveryOut]
    next_page_token: str | None = Field(
        default=None, description="Pass as page_token for the next page; null on the last page."
    )
