"""Rendering operations for HTTP: links, ETag, Location, Retry-After and ``Prefer: wait``.
Features use ``accepted`` to answer 202 for the operation they created."""

from __future__ import annotations

import re
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from starlette.types import Receive, Scope, Send

from backend.operations import idempotency, service
from backend.operations.models import Operation
from backend.operations.registry import Registry
from backend.operations.schemas import OperationLinks, OperationOut
from backend.urls import url_for

_WAIT_PREFERENCE = re.compile(r"^\s*wait\s*=\s*\"?(\d+)\"?\s*$", re.IGNORECASE | re.ASCII)


def operation_url(request: Request, op: Operation) -> str:
    return url_for(request, "get_operation", operation_id=op.id)


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
        parent_id=op.parent_id,
        batch_id=op.batch_id,
        links=OperationLinks(
            self=base,
            wait=base + "/wait",
            events=base + "/events",
            cancel=base + "/cancel",
            children=url_for(request, "list_operations") + f"?parent_id={op.id}",
            parent=None
            if op.parent_id is None
            else url_for(request, "get_operation", operation_id=op.parent_id),
            batch=None
            if op.batch_id is None
            else url_for(request, "get_batch", batch_id=op.batch_id),
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


PREFER_HEADER: dict[str, Any] = {
    "Preference-Applied": {
        "description": "`wait=N` when the request's `Prefer: wait=N` was honoured (N capped).",
        "schema": {"type": "string"},
    },
}


def accepted_responses() -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for a create endpoint's 202, and the 200 it answers instead when
    ``Prefer: wait`` saw the operation finish (pair with ``status_code=202`` and
    ``response_model=OperationOut``)."""
    location = {
        "Location": {
            "description": "Absolute URL of the operation.",
            "schema": {"type": "string", "format": "uri"},
        },
    }
    return {
        200: {
            "description": "With `Prefer: wait=N`: the operation finished within the wait.",
            "model": OperationOut,
            "headers": {**location, **OPERATION_HEADERS, **PREFER_HEADER},
        },
        202: {
            "description": "Accepted: follow the operation at Location.",
            "headers": {**location, **OPERATION_HEADERS, **PREFER_HEADER},
        },
    }


def preferred_wait(request: Request) -> float | None:
    """Seconds the client prefers to wait (RFC 7240 ``Prefer: wait=N``), capped at
    ``max_wait_seconds``; None when it expressed no such preference."""
    values = request.headers.getlist("prefer")
    for preference in ",".join(values).split(","):
        match = _WAIT_PREFERENCE.match(preference.split(";", 1)[0])
        if match:
            cap: float = request.app.state.settings.operations.max_wait_seconds
            # Any number of digits is a wait, capped; a long one is not converted at all.
            digits = match.group(1)
            return cap if len(digits) > 9 else min(float(digits), cap)
    return None


def preference_applied(wait: float) -> str:
    return f"wait={wait:g}"


async def wait_for_preference(request: Request, op: Operation, wait: float) -> Operation:
    """The operation once finished, or as it is when ``wait`` seconds have passed.

    Reads in short sessions woken by the process's LISTEN connection: no database
    connection is held while waiting.
    """
    state = request.app.state
    return await service.wait_for_operation(
        state.sessionmaker, state.waiters, op.tenant_id, op.id, wait
    )


class AcceptedResponse(JSONResponse):
    """202 for a created operation. With ``Prefer: wait=N`` it waits when it is sent,
    which is after the request's transaction committed (a worker can only see the
    operation then), and answers 200 with the finished operation or 202 with the
    current one at the end of the wait."""

    def __init__(self, request: Request, op: Operation) -> None:
        self._request = request
        self._op = op
        self._wait = preferred_wait(request)
        super().__init__(
            to_schema(request, op).model_dump(mode="json"),
            status_code=202,
            headers=_accepted_headers(request, op),
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._wait is None:
            await super().__call__(scope, receive, send)
            return
        op = await wait_for_preference(self._request, self._op, self._wait)
        headers = _accepted_headers(self._request, op)
        headers["Preference-Applied"] = preference_applied(self._wait)
        answer = JSONResponse(
            to_schema(self._request, op).model_dump(mode="json"),
            status_code=200 if op.state.done else 202,
            headers=headers,
        )
        await answer(scope, receive, send)


def _accepted_headers(request: Request, op: Operation) -> dict[str, str]:
    registry: Registry = request.app.state.registry
    headers = operation_headers(request, op, registry)
    headers["Location"] = operation_url(request, op)
    if not op.state.done:
        headers.setdefault("Retry-After", "1")
    return headers


def accepted(request: Request, op: Operation) -> JSONResponse:
    """The 202 answer for a newly created (or reused) operation.

    Honours ``Prefer: wait=N``, and is the answer an ``Idempotency-Key`` replays.
    """
    response = AcceptedResponse(request, op)
    idempotency.remember(request, response)
    return response
