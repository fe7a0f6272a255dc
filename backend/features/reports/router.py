"""HTTP for reports: `GET /people/{person_id}/reports/{period}`."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response
from fastapi.security import HTTPAuthorizationCredentials

from backend.auth.dependencies import (
    DbSession,
    attempt_of,
    authenticate_key,
    bearer,
    presented_key,
    refuse_credential,
    unknown_key,
)
from backend.auth.exceptions import ReadOnlyCaller
from backend.errors import AppError, problem_responses
from backend.features.reports import service
from backend.features.reports.exceptions import ReportNotGenerated
from backend.features.reports.periods import parse_period
from backend.features.reports.schemas import ReportOut
from backend.features.reports.service import Cached, RefreshState
from backend.operations.http import accepted, accepted_responses
from backend.timestamps import IsoDate
from backend.urls import url_for

router = APIRouter(prefix="/people", tags=["reports"])

# The same scheme as every endpoint's (backend.auth.dependencies): this endpoint reads
# the key itself so that authentication and the report are one statement.

PERIOD_DESCRIPTION = "A month (`2026-10`), a quarter (`2026-Q3`), or `custom` with `from` and `to`."


@router.get(
    "/{person_id}/reports/{period}",
    name="get_person_report",
    summary="Get a person's report for a period",
    response_model=ReportOut,
    responses={
        **accepted_responses(),
        200: {
            "model": ReportOut,
            "description": "The cached report: fresh, or stale with `refreshing: true` and "
            "the refresh operation. (With `Prefer: wait=N` on a 202, the finished "
            "generation operation.)",
            "headers": {"Age": {"schema": {"type": "integer"}}},
        },
        **problem_responses(401, 403, 404, 422),
    },
)
async def get_person_report(
    person_id: uuid.UUID,
    period: Annotated[str, Path(max_length=40, description=PERIOD_DESCRIPTION)],
    request: Request,
    session: DbSession,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    first: Annotated[
        IsoDate | None, Query(alias="from", description="First day of a custom period.")
    ] = None,
    last: Annotated[
        IsoDate | None, Query(alias="to", description="Last day of a custom period (included).")
    ] = None,
    refresh: Annotated[
        bool, Query(description="Start a refresh even if the report is fresh.")
    ] = False,
) -> Response:
    """A report on the person over the period: reviews received, peer evaluation
    feedback and practice interviews, with computed figures (counts, average ratings
    per competency, trend against the period before) and a narrative by the model.

    - A fresh cached report: **200** with it and its age.
    - A stale one: **200** with it, `refreshing: true` and `refresh_operation`,
      a refresh running behind it.
    - None yet: **202** with the generation operation; GET again once it is done.

    Identical requests share one operation. Read-only (viewer) keys read cached
    reports only: none yet is 404 `REPORT_NOT_GENERATED`.
    """
    # The request's session is used only to start work: it opens no connection when a
    # cached report is served.
    state = request.app.state
    settings = state.settings.reports
    api_key = presented_key(credentials)
    try:
        wanted = parse_period(
            period,
            first,
            last,
            today=datetime.now(UTC).date(),
            max_days=settings.max_custom_days,
        )
    except AppError:
        # An unknown key is told so before anything about the request, as everywhere.
        await authenticate_key(request, api_key)
        raise
    attempt = attempt_of(request, "key", api_key)
    found = await service.find_report(state.engine, api_key, attempt, person_id, wanted)
    if found is None:
        await refuse_credential(request, attempt, unknown_key())
    if found.key_stale:
        await authenticate_key(request, api_key)
    caller, cached = found.caller, found.cached
    writer = service.can_generate(caller)
    if refresh and not writer:
        raise ReadOnlyCaller("This API key is read-only (viewer): it cannot start a refresh.")
    if cached is None and not writer:
        raise ReportNotGenerated()
    target = str(request.url.remove_query_params("refresh"))
    if cached is None:
        op = await service.schedule_generation(
            session,
            request.app.state.registry,
            caller,
            person_id,
            wanted,
            target=target,
            cached=False,
        )
        return accepted(request, op)
    running = cached.refresh
    if writer and service.needs_refresh(
        cached,
        ttl=settings.ttl_seconds,
        retry_after=settings.refresh_retry_seconds,
        forced=refresh,
    ):
        op = await service.schedule_generation(
            session,
            request.app.state.registry,
            caller,
            person_id,
            wanted,
            target=target,
            cached=True,
        )
        running = RefreshState(op.id, op.status, None, None)
    return report_response(request, cached, running, ttl=settings.ttl_seconds, writer=writer)


def report_response(
    request: Request, cached: Cached, refresh: RefreshState | None, *, ttl: float, writer: bool
) -> Response:
    """The stored document as PostgreSQL gave it, with what changes per request added:
    no decoding, validation or encoding of the stored part."""
    live: dict[str, Any] = {
        "refreshed_at": cached.refreshed_at.isoformat(),
        "age_seconds": int(cached.age),
        "fresh": cached.age < ttl,
        "refreshing": refresh is not None and refresh.active,
        "refresh_allowed": writer,
        "refresh_operation": None,
    }
    if refresh is not None and refresh.status != "completed":
        live["refresh_operation"] = {
            "id": str(refresh.id),
            "status": refresh.status,
            "error": None if refresh.error is None else json.loads(refresh.error),
            "url": url_for(request, "get_operation", operation_id=refresh.id),
        }
    # Both are JSON objects: the stored one loses its closing brace, the live one its
    # opening brace.
    body = f"{cached.document[:-1]}, {json.dumps(live)[1:]}"
    return Response(
        body,
        media_type="application/json",
        headers={"Age": str(int(cached.age)), "Cache-Control": "private, no-cache"},
    )
