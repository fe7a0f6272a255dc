"""Shared fixtures: a real PostgreSQL, a fresh database per test, the app, API keys."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from backend.auth import service as auth
from backend.auth.exceptions import TenantNotFound
from backend.auth.models import Role
from backend.config import Settings
from backend.db import create_engine, create_read_sessionmaker, create_sessionmaker
from backend.main import create_app
from backend.migrate import upgrade
from backend.operations.registry import Registry
from tests import database, kinds


@pytest.fixture(scope="session")
def server_url() -> str:
    return database.server_url()


@pytest.fixture(scope="session")
async def template_database(server_url: str) -> AsyncIterator[str]:
    name = database.unique_name("opsapi_template")
    url = await database.create_database(server_url, name)
    await asyncio.to_thread(upgrade, url)
    yield name
    await database.drop_database(server_url, name)


@pytest.fixture
async def database_url(server_url: str, template_database: str) -> AsyncIterator[str]:
    """A fresh, migrated database for this test only."""
    name = database.unique_name("opsapi_test")
    url = await database.create_database(server_url, name, template=template_database)
    yield url
    await database.drop_database(server_url, name)


def test_settings(database_url: str, **overrides: object) -> Settings:
    """Settings with short intervals so engine behaviour shows in seconds, not minutes."""
    values: dict[str, object] = {
        "database_url": database_url,
        "log_format": "console",
        "log_level": "WARNING",
        "worker": {
            "concurrency": 4,
            "poll_interval": 0.2,
            "lease_seconds": 2.0,
            "heartbeat_interval": 0.3,
            "maintenance_interval": 0.3,
            "shutdown_grace": 2.0,
        },
    }
    values.update(overrides)
    return Settings.model_validate(values)


@pytest.fixture
def settings(database_url: str) -> Settings:
    return test_settings(database_url)


@pytest.fixture
async def engine(database_url: str, settings: Settings) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url, settings)
    yield engine
    await engine.dispose()


@pytest.fixture
def sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return create_sessionmaker(engine)


@pytest.fixture
def registry() -> Registry:
    registry = Registry()
    kinds.register(registry)
    return registry


@pytest.fixture
async def app(settings: Settings, registry: Registry, database_url: str) -> AsyncIterator[FastAPI]:
    app = create_app(settings, registry=registry, database_url=database_url, configure_logs=False)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@dataclass(frozen=True)
class ApiCaller:
    key: str
    tenant_id: object
    principal_id: object
    role: Role

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


KeyFactory = Callable[..., Awaitable[ApiCaller]]


async def create_caller(
    sessionmaker: async_sessionmaker[AsyncSession],
    tenant: str | None = None,
    role: Role = Role.member,
) -> ApiCaller:
    """Create an API key; a new tenant unless ``tenant`` names an existing one."""
    async with sessionmaker() as session:
        name = tenant or database.unique_name("tenant")
        try:
            found = await auth.get_tenant_by_name(session, name)
        except TenantNotFound:
            found = await auth.create_tenant(session, name)
        issued = await auth.create_key(session, found, role=role)
        await session.commit()
    return ApiCaller(issued.key, issued.tenant_id, issued.principal_id, role)


@pytest.fixture
def make_caller(sessionmaker: async_sessionmaker[AsyncSession]) -> KeyFactory:
    """Create an API key; a new tenant unless ``tenant`` names an existing one."""

    async def make(tenant: str | None = None, role: Role = Role.member) -> ApiCaller:
        return await create_caller(sessionmaker, tenant, role)

    return make


@pytest.fixture
async def caller(make_caller: KeyFactory) -> ApiCaller:
    return await make_caller()


@pytest.fixture
async def unreachable_database(app: FastAPI, settings: Settings) -> AsyncIterator[None]:
    """Point the running app at a port where no database listens."""
    engine = create_engine("postgresql://postgres@127.0.0.1:9/nowhere", settings)
    state = app.state
    previous = state.engine, state.sessionmaker, state.read_sessionmaker
    state.engine, state.sessionmaker = engine, create_sessionmaker(engine)
    state.read_sessionmaker = create_read_sessionmaker(engine)
    yield
    state.engine, state.sessionmaker, state.read_sessionmaker = previous
    await engine.dispose()
