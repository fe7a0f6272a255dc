"""Fixtures of the limit tests: small limits, so that exceeding them is cheap, and the
product's own kinds (uploads create document operations)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.auth.models import Role
from backend.config import Settings
from backend.features import build_registry
from backend.operations.models import Operation
from backend.operations.registry import Registry
from tests.conftest import ApiCaller, KeyFactory, test_settings

MAX_BODY_BYTES = 4096
MAX_UPLOAD_BYTES = 20_000
MAX_FAILURES = 3

Sessions = async_sessionmaker[AsyncSession]


def limit_settings(database_url: str, storage: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "limits": {"max_body_bytes": MAX_BODY_BYTES},
        "auth": {"max_failures": MAX_FAILURES, "failure_window_seconds": 300},
        "documents": {
            "storage_path": str(storage),
            "fsync": False,
            "max_upload_bytes": MAX_UPLOAD_BYTES,
        },
    }
    values.update(overrides)
    return test_settings(database_url, **values)


@pytest.fixture
def storage(tmp_path: Path) -> Path:
    return tmp_path / "documents"


@pytest.fixture
def settings(database_url: str, storage: Path) -> Settings:
    return limit_settings(database_url, storage)


@pytest.fixture
def registry(settings: Settings) -> Registry:
    return build_registry(settings)


async def row_count(sessionmaker: Sessions, model: Any) -> int:
    async with sessionmaker() as db:
        return await db.scalar(select(func.count()).select_from(model)) or 0


async def operation_count(sessionmaker: Sessions) -> int:
    return await row_count(sessionmaker, Operation)


@pytest.fixture
async def admin(make_caller: KeyFactory) -> ApiCaller:
    return await make_caller(role=Role.admin)
