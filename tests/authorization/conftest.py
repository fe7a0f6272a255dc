"""One world for the package: a database, the app, a client and every resource the matrix
names, built once, so each of the several hundred cells is a single request."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from backend.config import Settings
from backend.features import build_registry
from backend.main import create_app
from backend.operations.registry import Registry
from tests import database, kinds
from tests.authorization.world import World, build
from tests.conftest import test_settings
from tests.features.conftest import FEEDBACK


@pytest.fixture(scope="package")
async def matrix_database(server_url: str, template_database: str) -> AsyncIterator[str]:
    name = database.unique_name("opsapi_matrix")
    url = await database.create_database(server_url, name, template=template_database)
    yield url
    await database.drop_database(server_url, name)


@pytest.fixture(scope="package")
def matrix_settings(matrix_database: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    storage: Path = tmp_path_factory.mktemp("documents")
    return test_settings(
        matrix_database,
        feedback=FEEDBACK,
        documents={"storage_path": str(storage), "fsync": False},
        # Hundreds of refused cells come from one client address: the failed-authentication
        # limit (tests/limits) would answer 429 before the matrix's own answer shows.
        auth={"max_failures": 0},
    )


@pytest.fixture(scope="package")
def matrix_registry(matrix_settings: Settings) -> Registry:
    """The product's kinds, and the test kinds the generic operations are made of."""
    registry = build_registry(matrix_settings)
    kinds.register(registry)
    return registry


@pytest.fixture(scope="package")
async def world(
    matrix_database: str, matrix_settings: Settings, matrix_registry: Registry
) -> AsyncIterator[World]:
    app = create_app(
        matrix_settings,
        registry=matrix_registry,
        database_url=matrix_database,
        configure_logs=False,
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield await build(
                client,
                app.state.sessionmaker,
                matrix_registry,
                matrix_settings,
                matrix_database,
            )
