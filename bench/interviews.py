"""Completed practice-interview sessions to ask feedback for: the create request the HTTP
and end-to-end benchmarks send is ``POST /api/v1/sessions/{id}/generate-feedback``.

A session takes one feedback operation, so every request needs a session of its own;
they are inserted in bulk (one statement each for sessions and turns), completed, each
with one question answered.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import asyncpg

from backend.auth import service as auth
from backend.config import Settings
from backend.db import create_engine, create_sessionmaker, libpq_dsn
from bench import database


@dataclass(frozen=True)
class BenchCaller:
    """The API key the benchmark's requests carry, and whom it stands for."""

    key: str
    tenant_id: uuid.UUID
    principal_id: uuid.UUID


async def prepare(url: str) -> BenchCaller:
    """Recreate and migrate the database; answer a member's API key in a new tenant."""
    await database.recreate(url)
    engine = create_engine(url, Settings(database_url=url))
    try:
        async with create_sessionmaker(engine)() as session:
            tenant = await auth.create_tenant(session, "bench")
            issued = await auth.create_key(session, tenant)
            await session.commit()
    finally:
        await engine.dispose()
    return BenchCaller(issued.key, issued.tenant_id, issued.principal_id)


async def completed_sessions(url: str, caller: BenchCaller, count: int) -> list[uuid.UUID]:
    """Insert ``count`` completed sessions of the caller's, one answered turn each."""
    connection = await asyncpg.connect(libpq_dsn(url))
    try:
        rows = await connection.fetch(
            "INSERT INTO interview_sessions"
            " (id, tenant_id, principal_id, role, seniority, topic, status, turn_count,"
            "  completed_at)"
            " SELECT gen_random_uuid(), $1, $2, 'Backend engineer', 'senior',"
            "  'system design', 'completed', 1, now()"
            " FROM generate_series(1, $3) RETURNING id",
            caller.tenant_id,
            caller.principal_id,
            count,
        )
        ids = [row["id"] for row in rows]
        await connection.execute(
            "INSERT INTO interview_turns (id, session_id, position, question, answer,"
            " duration_seconds)"
            " SELECT gen_random_uuid(), s, 1,"
            "  'Tell me about a system you designed that had to scale.',"
            "  'A job queue on PostgreSQL; we measured it before and after each change.', 90"
            " FROM unnest($1::uuid[]) AS s",
            ids,
        )
        await connection.execute("ANALYZE interview_sessions; ANALYZE interview_turns")
    finally:
        await connection.close()
    return ids


def feedback_path(session_id: uuid.UUID) -> str:
    return f"/api/v1/sessions/{session_id}/generate-feedback"
