"""The Operation resource as clients see it."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from backend.operations.states import Status


class Progress(BaseModel):
    percent: float | None = Field(default=None, ge=0, le=100)
    stage: str | None = None
    message: str | None = None


class OperationError(BaseModel):
    code: str = Field(examples=["WORKER_LOST"])
    message: str = Field(description="Safe to show to a person; never internal detail.")
    retryable: bool


class OperationLinks(BaseModel):
    self: str
    wait: str
    events: str
    cancel: str
    children: str = Field(
        description="The operations a chain created after this one (a filtered list)."
    )
    parent: str | None = Field(default=None, description="The operation this one continues.")
    batch: str | None = Field(default=None, description="The batch this operation belongs to.")


class OperationOut(BaseModel):
    id: uuid.UUID
    kind: str = Field(examples=["interview.feedback"])
    status: Status
    done: bool
    target: str | None = None
    progress: Progress | None = None
    result: Any | None = Field(default=None, description="The result, once completed.")
    error: OperationError | None = Field(
        default=None,
        description="Why it failed or was cancelled. While a retry is scheduled (status "
        "pending, attempt ≥ 1) it holds the last attempt's error with retryable=true.",
    )
    attempt: int
    max_attempts: int
    priority: int
    cancel_requested: bool
    created_at: datetime
    run_after: datetime = Field(description="Earliest time a worker may start the next attempt.")
    started_at: datetime | None = None
    finished_at: datetime | None = None
    expires_at: datetime | None = Field(
        default=None, description="When a finished operation will be forgotten."
    )
    parent_id: uuid.UUID | None = Field(
        default=None, description="The operation whose completion created this one (a chain)."
    )
    batch_id: uuid.UUID | None = Field(
        default=None, description="The batch this operation was created in."
    )
    links: OperationLinks


class OperationList(BaseModel):
    operations: list[OperationOut]
    next_page_token: str | None = Field(
        default=None, description="Pass as page_token for the next page; null on the last page."
    )


class BatchCounts(BaseModel):
    """Operations of the batch per status."""

    pending: int
    processing: int
    completed: int
    failed: int
    cancelled: int


class BatchLinks(BaseModel):
    self: str
    operations: str = Field(description="The batch's operations (a filtered list).")


class BatchOut(BaseModel):
    id: uuid.UUID
    target: str | None = Field(default=None, description="URL of what the batch is about.")
    total: int = Field(description="Operations of the batch still kept.")
    counts: BatchCounts
    done: bool = Field(description="True once every operation of the batch is done.")
    operation_ids: list[uuid.UUID] = Field(description="Oldest first.")
    created_at: datetime
    links: BatchLinks
