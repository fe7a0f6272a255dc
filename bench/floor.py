"""The floor the HTTP benchmark compares opsapi with: a bare FastAPI app that inserts
one row with asyncpg (POST) and reads one row back (GET), nothing else.

    OPSAPI_BENCH_FLOOR_DSN=postgresql://… uvicorn bench.floor:create_app --factory

No authentication, no idempotency, no events, no ORM: what any endpoint that writes
one row to PostgreSQL costs on this machine, the most an API like opsapi's could reach.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from fastapi import FastAPI, HTTPException, Request

DSN_VARIABLE = "OPSAPI_BENCH_FLOOR_DSN"
POOL_SIZE = 20  # opsapi's default pool: 20 connections per process, no overflow
SCHEMA = (
    "CREATE TABLE IF NOT EXISTS floor_jobs ("
    " id uuid PRIMARY KEY, kind text NOT NULL, status text NOT NULL DEFAULT 'pending',"
    " created_at timestamptz NOT NULL DEFAULT now())"
)


def create_app() -> FastAPI:
    """The floor app; its pool opens in the lifespan, on ``OPSAPI_BENCH_FLOOR_DSN``."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.pool = await asyncpg.create_pool(
            os.environ[DSN_VARIABLE], min_size=POOL_SIZE, max_size=POOL_SIZE
        )
        try:
            yield
        finally:
            await app.state.pool.close()

    app = FastAPI(lifespan=lifespan, openapi_url=None)

    @app.post("/jobs", status_code=202)
    async def create_job(request: Request) -> dict[str, str]:
        job_id = uuid.uuid4()
        await request.app.state.pool.execute(
            "INSERT INTO floor_jobs (id, kind) VALUES ($1, 'bench.noop')", job_id
        )
        return {"id": str(job_id), "status": "pending"}

    @app.get("/jobs/{job_id}")
    async def get_job(job_id: uuid.UUID, request: Request) -> dict[str, str]:
        row = await request.app.state.pool.fetchrow(
            "SELECT id, kind, status, created_at FROM floor_jobs WHERE id = $1", job_id
        )
        if row is None:
            raise HTTPException(status_code=404)
        return {
            "id": str(row["id"]),
            "kind": row["kind"],
            "status": row["status"],
            "created_at": row["created_at"].isoformat(),
        }

    return app
