"""Fixtures of the report tests: a person of the admin's tenant to report on."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.conftest import ApiCaller
from tests.features.reports.data import Subject, subject


@pytest.fixture
async def sam(sessionmaker: async_sessionmaker[AsyncSession], admin: ApiCaller) -> Subject:
    return await subject(sessionmaker, admin.tenant_id, "Sam Rivera")
