"""The contract run's fixtures: one real API process per run, with a worker, an admin
key of a tenant, and real rows made through the API for generated requests to reach."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from backend.auth.models import Role
from backend.config import Settings
from backend.db import create_engine, create_sessionmaker
from tests import database
from tests.conftest import ApiCaller, create_caller
from tests.contract.seed import SeededRows, seed
from tests.contract.server import contract_server


@dataclass(frozen=True)
class ContractApi:
    url: str
    admin: ApiCaller
    rows: SeededRows


@pytest.fixture(scope="module")
async def contract_api(
    server_url: str, template_database: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[ContractApi]:
    """A fresh database, the API serving it, and the seeded rows of an admin's tenant."""
    name = database.unique_name("opsapi_contract")
    url = await database.create_database(server_url, name, template=template_database)
    try:
        storage: Path = tmp_path_factory.mktemp("contract") / "documents"
        with contract_server(url, storage) as api_url:
            tenant = database.unique_name("contract")
            admin = await _caller(url, tenant, Role.admin)
            member = await _caller(url, tenant, Role.member)
            async with httpx.AsyncClient(base_url=api_url, timeout=30) as client:
                rows = await seed(client, admin, member)
            yield ContractApi(api_url, admin, rows)
    finally:
        await database.drop_database(server_url, name)


async def _caller(database_url: str, tenant: str, role: Role) -> ApiCaller:
    engine = create_engine(database_url, Settings(database_url=database_url))
    try:
        return await create_caller(create_sessionmaker(engine), tenant, role)
    finally:
        await engine.dispose()
