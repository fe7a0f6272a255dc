"""Liveness and readiness, outside authentication."""

from __future__ import annotations

import asyncio
import logging

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import text

log = logging.getLogger(__name__)

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str
    detail: str | None = None


@router.get("/healthz", summary="Process is alive", response_model=Health)
async def healthz() -> Health:
    return Health(status="ok")


@router.get(
    "/readyz",
    summary="Database reachable and migrations at head",
    response_model=Health,
    responses={503: {"model": Health, "description": "Not ready"}},
)
async def readyz(request: Request) -> JSONResponse:
    state = request.app.state
    try:
        # Bounded as a whole: a probe that hangs is as good as no answer to the
        # orchestrator asking, and a database that answers this slowly is not ready.
        async with (
            asyncio.timeout(state.settings.database.connect_timeout),
            state.engine.connect() as conn,
        ):
            migrated = await conn.scalar(text("SELECT to_regclass('alembic_version') IS NOT NULL"))
            revision = (
                await conn.scalar(text("SELECT version_num FROM alembic_version"))
                if migrated
                else None
            )
    except Exception as exc:  # noqa: BLE001 - any failure to ask means not ready
        log.warning("readiness check failed", extra={"error": str(exc)})
        return _not_ready("database unreachable")
    if not migrated:
        return _not_ready("database has no schema yet: run `opsapi migrate`")
    if revision != state.migration_head:
        return _not_ready(
            f"database at revision {revision}, expected {state.migration_head}: "
            "run `opsapi migrate`"
        )
    return JSONResponse({"status": "ok"})


def _not_ready(detail: str) -> JSONResponse:
    return JSONResponse({"status": "unavailable", "detail": detail}, 503)
