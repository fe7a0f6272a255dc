"""HTTP for the generic Operation resource: read, list, wait, cancel, forget."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import JSONResponse

from backend.auth.dependencies import CurrentCaller, DbSession, ReadSession, WritingCaller
from backend.errors import problem_responses
from backend.operations import service
from backend.operations.http import (
    OPERATION_HEADERS,
    PREFER_HEADER,
    etag,
    operation_headers,
    preference_applied,
    preferred_wait,
    to_schema,
)
from backend.operations.models import Operation
from backend.operations.schemas import OperationList, OperationOut
from backend.operations.states import Status
from backend.operations.visibility import reader_of
from backend.timestamps import IsoDateTime

router = APIRouter(prefix="/operations", tags=["operations"])


def _render(request: Request, op: Operation, status_code: int = 200) -> JSONResponse:
    return JSONResponse(
        to_schema(request, op).model_dump(mode="json"),
        status_code=status_code,
        headers=operation_headers(request, op, request.app.state.registry),
    )


@router.get(
    "/{operation_id}",
    name="get_operation",
    summary="Get an operation",
    response_model=OperationOut,
    responses={
        200: {"headers": {**OPERATION_HEADERS, **PREFER_HEADER}},
        304: {
            "description": "Not modified since the ETag given in If-None-Match.",
            "headers": OPERATION_HEADERS,
        },
        **problem_responses(401, 404, 422),
    },
)
async def get_operation(
    operation_id: uuid.UUID,
    request: Request,
    session: ReadSession,
    caller: CurrentCaller,
    prefer: Annotated[
        str | None,
        Header(
            description="`wait=N` (RFC 7240): hold the request up to N seconds (capped at "
            "the server's maximum wait, 60 by default) until the operation is done.",
        ),
    ] = None,
) -> Response:
    """The operation in any status. While it is not done, `Retry-After` suggests when
    to poll again; send the `ETag` back in `If-None-Match` to get a cheap 304."""
    wait = preferred_wait(request) if prefer is not None else None
    reader = reader_of(request, caller)
    if wait is None:
        op = await service.get_operation(session, reader, operation_id)
        extra: dict[str, str] = {}
    else:
        # Short sessions while waiting: the request's own session stays unused.
        state = request.app.state
        op = await service.wait_for_operation(
            state.sessionmaker, state.waiters, reader, operation_id, wait
        )
        extra = {"Preference-Applied": preference_applied(wait)}
    if _matches_if_none_match(request.headers.get("if-none-match"), etag(op)):
        headers = operation_headers(request, op, request.app.state.registry)
        return Response(status_code=304, headers={**headers, **extra})
    response = _render(request, op)
    response.headers.update(extra)
    return response


def _matches_if_none_match(value: str | None, tag: str) -> bool:
    """RFC 9110 §13.1.2: ``*`` matches any current representation, and the comparison
    is weak, so ``W/"x"`` and ``"x"`` are the same tag."""
    if not value:
        return False
    candidates = {t.strip().removeprefix("W/") for t in value.split(",")}
    return "*" in candidates or tag.removeprefix("W/") in candidates


@router.get(
    "",
    name="list_operations",
    summary="List operations",
    response_model=OperationList,
    responses=problem_responses(401, 422),
)
async def list_operations(
    request: Request,
    session: DbSession,
    caller: CurrentCaller,
    status: Annotated[list[Status] | None, Query(description="Repeat to match several.")] = None,
    kind: Annotated[str | None, Query(max_length=100)] = None,
    target: Annotated[str | None, Query(max_length=2000)] = None,
    created_after: Annotated[
        IsoDateTime | None,
        Query(description="Only operations created after this time (ISO 8601; UTC if no offset)."),
    ] = None,
    created_before: Annotated[
        IsoDateTime | None,
        Query(description="Only operations created before this time (ISO 8601; UTC if no offset)."),
    ] = None,
    page_size: Annotated[int, Query(ge=1, le=100)] = 20,
    page_token: Annotated[str | None, Query(max_length=200)] = None,
    batch_id: Annotated[uuid.UUID | None, Query(description="Only this batch's.")] = None,
    parent_id: Annotated[
        uuid.UUID | None, Query(description="Only those a chain created after this one.")
    ] = None,
) -> OperationList:
    """Your tenant's operations, newest first, one page at a time."""
    filters = service.ListFilters(
        statuses=status or [],
        kind=kind,
        target=target,
        created_after=_as_utc(created_after),
        created_before=_as_utc(created_before),
        batch_id=batch_id,
        parent_id=parent_id,
    )
    ops, next_token = await service.list_operations(
        session,
        reader_of(request, caller),
        filters,
        page_size=page_size,
        page_token=page_token,
    )
    return OperationList(
        operations=[to_schema(request, op) for op in ops], next_page_token=next_token
    )


def _as_utc(moment: datetime | None) -> datetime | None:
    """A time without an offset is UTC, whatever the server's local time zone is."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


@router.get(
    "/{operation_id}/wait",
    name="wait_operation",
    summary="Wait for an operation to finish",
    response_model=OperationOut,
    responses={200: {"headers": OPERATION_HEADERS}, **problem_responses(401, 404, 422)},
)
async def wait_operation(
    operation_id: uuid.UUID,
    request: Request,
    caller: CurrentCaller,
    timeout: Annotated[
        float, Query(ge=0, le=60, description="Seconds to wait at most (≤ 60).")
    ] = 30,
) -> JSONResponse:
    """Answers as soon as the operation is done, or with its current state at the timeout."""
    state = request.app.state
    limit = min(timeout, state.settings.operations.max_wait_seconds)
    op = await service.wait_for_operation(
        state.sessionmaker, state.waiters, reader_of(request, caller), operation_id, limit
    )
    return _render(request, op)


@router.post(
    "/{operation_id}/cancel",
    name="cancel_operation",
    summary="Cancel an operation",
    response_model=OperationOut,
    responses={200: {"headers": OPERATION_HEADERS}, **problem_responses(401, 403, 404, 422)},
)
async def cancel_operation(
    operation_id: uuid.UUID, request: Request, session: DbSession, caller: WritingCaller
) -> JSONResponse:
    """Pending: cancelled at once. Processing: `cancel_requested` is set and the worker
    stops the handler promptly. Finished: returned unchanged."""
    retention = timedelta(seconds=request.app.state.settings.operations.retention_seconds)
    await service.get_operation(session, reader_of(request, caller), operation_id)
    op = await service.cancel_operation(session, caller, operation_id, retention=retention)
    return _render(request, op)


@router.delete(
    "/{operation_id}",
    name="delete_operation",
    summary="Forget a finished operation",
    status_code=204,
    responses=problem_responses(401, 403, 404, 409),
)
async def delete_operation(
    operation_id: uuid.UUID, request: Request, session: DbSession, caller: WritingCaller
) -> Response:
    """Deletes a finished operation. An active one answers 409: cancel it first."""
    await service.get_operation(session, reader_of(request, caller), operation_id)
    await service.delete_operation(session, caller, operation_id)
    return Response(status_code=204)
