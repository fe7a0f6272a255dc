"""Where the tests' PostgreSQL comes from, and per-test databases cloned from a template.

The server is the one in ``OPSAPI_DATABASE_URL`` when set, else an embedded one
(pgserver) under a temporary folder. A template database is migrated once per run;
each test that needs the database gets a fresh clone, so tests can open as many
real connections (workers, listeners, subprocesses) as they like.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

from backend.db import asyncpg_url, embedded_database_url, libpq_dsn


def server_url() -> str:
    """A postgresql+asyncpg URL of the test server."""
    configured = os.environ.get("OPSAPI_DATABASE_URL")
    if configured:
        return asyncpg_url(configured).render_as_string(hide_password=False)
    try:
        folder = Path(tempfile.gettempdir()) / "opsapi-test-pg"
        return asyncpg_url(embedded_database_url(folder)).render_as_string(hide_password=False)
    except Exception as exc:
        raise RuntimeError(
            "No PostgreSQL for the tests: set OPSAPI_DATABASE_URL, or let the embedded "
            f"server (pgserver) start. It failed with: {exc}"
        ) from exc


def with_database(url: str, name: str) -> str:
    return make_url(url).set(database=name).render_as_string(hide_password=False)


async def create_database(url: str, name: str, template: str | None = None) -> str:
    conn = await asyncpg.connect(libpq_dsn(url))
    try:
        clause = f' TEMPLATE "{template}"' if template else ""
        await conn.execute(f'CREATE DATABASE "{name}"{clause}')
    finally:
        await conn.close()
    return with_database(url, name)


async def drop_database(url: str, name: str) -> None:
    conn = await asyncpg.connect(libpq_dsn(url))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def unique_name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"
