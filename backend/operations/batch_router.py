"""HTTP for batches: ``GET /batches/{id}``, and the 202 a feature answers after
``service.create_batch``."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from backend.auth.dependencies import CurrentCaller, DbSession
from backend.errors import problem_responses
from backend.operations import idempotency, service
from backend.operations.batches import BatchView
from backend.operations.schemas import BatchCounts, BatchLinks, BatchOut
from backend.urls import url_for

router = APIRouter(prefix="/batches", tags=["operations"])

RETRY_AFTER = "1"

_HEADERS: dict[str, dict[str, Any]] = {
    "Retry-After": {
        "description": "Seconds before polling again; only while the batch is not done.",
        "schema": {"type": "integer"},
    },
}


def batch_url(request: Request, batch_id: uuid.UUID) -> str:
    return url_for(request, "get_batch", batch_id=batch_id)


def to_schema(request: Request, view: BatchView) -> BatchOut:
    counts = view.counts
    return BatchOut(
        id=view.batch.id,
        target=view.batch.target,
        total=len(view.statuses),
        counts=BatchCounts(**{status.value: count for status, count in counts.items()}),
        done=view.done,
        operation_ids=[op_id for op_id, _ in view.statuses],
        created_at=view.batch.created_at,
        links=BatchLinks(
            self=batch_url(request, view.batch.id),
            operations=url_for(request, "list_operations") + f"?batch_id={view.batch.id}",
        ),
    )


def _render(request: Request, view: BatchView, status_code: int) -> JSONResponse:
    headers = {} if view.done else {"Retry-After": RETRY_AFTER}
    if status_code == 202:
        headers["Location"] = batch_url(request, view.batch.id)
    return JSONResponse(
        to_schema(request, view).model_dump(mode="json"), status_code=status_code, headers=headers
    )


def accepted(request: Request, view: BatchView) -> JSONResponse:
    """The 202 answer for a batch a feature created (also what an Idempotency-Key of
    the request replays)."""
    response = _render(request, view, 202)
    idempotency.remember(request, response)
    return response


def accepted_responses() -> dict[int | str, dict[str, Any]]:
    """OpenAPI entry for a create-batch endpoint's 202 (pair with ``status_code=202``
    and ``response_model=BatchOut``)."""
    return {
        202: {
            "description": "Accepted: follow the batch at Location.",
            "headers": {
                "Location": {
                    "description": "Absolute URL of the batch.",
                    "schema": {"type": "string", "format": "uri"},
                },
                **_HEADERS,
            },
        }
    }


@router.get(
    "/{batch_id}",
    name="get_batch",
    summary="Get a batch",
    response_model=BatchOut,
    responses={200: {"headers": _HEADERS}, **problem_responses(401, 404, 422)},
)
async def get_batch(
    batch_id: uuid.UUID, request: Request, session: DbSession, caller: CurrentCaller
) -> JSONResponse:
    """Operations created together: how many are in each status, their ids, and
    `done` once all of them are done. While not done, `Retry-After` suggests when to
    poll again; list the operations with `GET /operations?batch_id=…`."""
    view = await service.get_batch(session, caller.tenant_id, batch_id)
    return _render(request, view, 200)
