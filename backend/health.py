"""Liveness and readiness, outside authentication."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import text

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
        async with state.engine.connect() as conn:
            revision = await conn.scalar(text("SELECT version_num FROM alembic_version"))
    except Exception:  # noqa: BLE001 - any failure means not ready
        return JSONResponse({"status": "unavailable", "detail": "database unreachable"}, 503)
    if revision != state.migration_head:
        detail = f"database at revision {revision}, expected {state.migration_head}: run migrate"
        return JSONResponse({"status": "unavailable", "detail": detail}, 503)
    return JSONResponse({"status": "ok"})
