"""Rendering operations for HTTP: links, ETag, Location and Retry-After. Features use
``accepted`` to answer 202 for the operation they created."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from backend.operations.models import Operation
from backend.operations.registry import Registry
from backend.operations.schemas import OperationLinks, OperationOut


def operation_url(request: Request, op: Operation) -> str:
    return str(request.url_for("get_operation", operation_id=op.id))


def to_schema(request: Request, op: Operation) -> OperationOut:
    base = operation_url(request, op)
    return OperationOut(
        id=op.id,
        kind=op.kind,
        status=op.state,
        done=op.state.done,
        target=op.target,
        progress=op.progress,
        result=op.result,
        error=op.error,
        attempt=op.attempt,
        max_attempts=op.max_attempts,
        priority=op.priority,
        cancel_requested=op.cancel_requested,
        created_at=op.created_at,
        run_after=op.run_after,
        started_at=op.started_at,
        finished_at=op.finished_at,
        expires_at=op.expires_at,
        links=OperationLinks(
            self=base, wait=base + "/wait", events=base + "/events", cancel=base + "/cancel"
        ),
    )


def etag(op: Operation) -> str:
    return f'W/"{op.id.hex}.{op.version}"'


def operation_headers(request: Request, op: Operation, registry: Registry) -> dict[str, str]:
    headers = {"ETag": etag(op)}
    if not op.state.done:
        poll_after = registry.get(op.kind).poll_after if op.kind in registry else 1
        headers["Retry-After"] = str(poll_after)
    return headers


# OpenAPI descriptions of the headers every operation answer carries.
OPERATION_HEADERS: dict[str, dict[str, Any]] = {
    "ETag": {
        "description": "Changes with every change of the operation; send it in If-None-Match.",
        "schema": {"type": "string"},
    },
    "Retry-After": {
        "description": "Seconds before polling again; only while the operation is not done.",
        "schema": {"type": "integer"},
    },
}


def accepted_responses() -> dict[int | str, dict[str, Any]]:
    """OpenAPI entry for a create endpoint's 202 (pair with ``status_code=202`` and
    ``response_model=OperationOut``)."""
    return {
        202: {
            "description": "Accepted: follow the operation at Location.",
            "headers": {
                "Location": {
                    "description": "Absolute URL of the operation.",
                    "schema": {"type": "string", "format": "uri"},
                },
                **OPERATION_HEADERS,
            },
        }
    }


def accepted(request: Request, op: Operation) -> JSONResponse:
    """The 202 answer for a newly created (or reused) operation."""
    registry: Registry = request.app.state.registry
    headers = operation_headers(request, op, registry)
    headers["Location"] = operation_url(request, op)
    headers.setdefault("Retry-After", "1")
    return JSONResponse(
        to_schema(request, op).model_dump(mode="json"), status_code=202, headers=headers
    )
