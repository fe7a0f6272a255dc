"""Alembic environment: async engine over asyncpg, metadata from every model."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from backend.config import get_settings
from backend.db import Base, asyncpg_url, resolve_database_url
from backend.models import import_all_models

import_all_models()
target_metadata = Base.metadata
config = context.config


def _database_url() -> str:
    url = config.get_main_option("sqlalchemy.url")
    return url if url else resolve_database_url(get_settings())


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


async def _run_online() -> None:
    engine = create_async_engine(asyncpg_url(_database_url()))
    async with engine.connect() as connection:
        await connection.run_sync(_run)
    await engine.dispose()


if context.is_offline_mode():
    context.configure(url=_database_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_run_online())
