"""Engine, sessions, the declarative base, and the embedded PostgreSQL."""

from __future__ import annotations

import logging
import warnings
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import MetaData, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import DateTime

from backend.config import Settings

log = logging.getLogger(__name__)

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: dict[Any, Any] = {datetime: DateTime(timezone=True)}


def asyncpg_url(url: str) -> URL:
    """Normalise ``postgresql://`` and ``postgresql+asyncpg://`` to the asyncpg driver."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres", "postgresql+asyncpg"):
        return parsed.set(drivername="postgresql+asyncpg")
    raise ValueError(
        f"Unsupported database URL scheme {parsed.drivername!r}: use postgresql:// "
        "or postgresql+asyncpg://"
    )


def libpq_dsn(url: str) -> str:
    """The same URL as a plain ``postgresql://`` DSN, for raw asyncpg connections."""
    return asyncpg_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def embedded_database_url(data_dir: Path) -> str:
    """Start (or join) the embedded PostgreSQL under ``data_dir`` and return its URL.

    pgserver keeps one server per data folder: a second process with the same folder
    joins the running server instead of starting another.
    """
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); its
        # fallback under /tmp is fine for the server's lock file.
        warnings.simplefilter("ignore")
        from pgserver import postgres_server

    data_dir = data_dir.expanduser().resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    # The server stops when the last process using it exits; later ones join it.
    server = postgres_server.get_server(data_dir / "pgdata", cleanup_mode="stop")
    uri: str = server.get_uri()
    return uri


def resolve_database_url(settings: Settings) -> str:
    """The configured URL, or the embedded server's when none is configured."""
    if settings.database_url:
        return asyncpg_url(settings.database_url).render_as_string(hide_password=False)
    url = embedded_database_url(settings.data_dir)
    log.info("using embedded PostgreSQL under %s", settings.data_dir)
    return asyncpg_url(url).render_as_string(hide_password=False)


def create_engine(url: str, settings: Settings, *, extra_connections: int = 0) -> AsyncEngine:
    """The process's pool; ``extra_connections`` adds room for a worker's handlers, each
    of which may hold a connection while its completion session is open."""
    return create_async_engine(
        asyncpg_url(url),
        pool_size=settings.database.pool_size + extra_connections,
        max_overflow=settings.database.max_overflow,
        pool_timeout=settings.database.pool_timeout,
        # No ping before each checkout (a round trip per request): a connection found
        # dead when used raises DATABASE_UNAVAILABLE (503), and SQLAlchemy then discards
        # every pooled connection opened before it, so the next requests reconnect.
        # Without these a database that stops answering (a frozen host, a network
        # partition) holds every request: asyncpg waits 60 s to connect and forever for
        # an answer. Bounded, the request fails as DATABASE_UNAVAILABLE (503).
        connect_args={
            "timeout": settings.database.connect_timeout,
            "command_timeout": settings.database.command_timeout,
        },
        # Statement parameters carry secrets (a webhook's signing secret, key hashes):
        # kept out of error messages, and so out of logs.
        hide_parameters=True,
    )


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def create_read_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions on the same pool whose statements each commit on their own: no BEGIN
    and COMMIT round trips. Only for reads of one statement (no snapshot is shared
    between statements)."""
    return async_sessionmaker(
        engine.execution_options(isolation_level="AUTOCOMMIT"), expire_on_commit=False
    )


async def session_scope(factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """One unit of work: commit when the block ends, roll back on error."""
    async with factory() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


_NOTIFY = text("SELECT pg_notify(:channel, :payload)")


async def notify(conn: AsyncConnection | AsyncSession, channel: str, payload: str) -> None:
    """NOTIFY ``channel`` with ``payload``; PostgreSQL delivers it when the transaction
    commits, and not at all if it rolls back."""
    await conn.execute(_NOTIFY, {"channel": channel, "payload": payload})
