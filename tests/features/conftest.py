"""Fixtures of the feature tests: the product's own kinds, admin keys, and workers
reaching either the fake OpenAI-compatible server or the local provider."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from backend.auth.models import Role
from backend.config import Settings
from backend.features import build_registry
from backend.operations.registry import Registry
from tests import database
from tests.conftest import ApiCaller, KeyFactory, test_settings
from tests.fakes.openai_server import FakeOpenAI, serving

# No debounce in tests: a regeneration starts as soon as a worker is free.
FEEDBACK: dict[str, Any] = {"summary_debounce_seconds": 0}


@pytest.fixture
def settings(database_url: str) -> Settings:
    """The API's settings, and a worker's with the local provider (no key configured)."""
    return test_settings(database_url, feedback=FEEDBACK)


@pytest.fixture
def registry(settings: Settings) -> Registry:
    """The kinds the product ships (the feedback summaries among them)."""
    return build_registry(settings)


@pytest.fixture
def tenant() -> str:
    return database.unique_name("tenant")


@pytest.fixture
async def admin(make_caller: KeyFactory, tenant: str) -> ApiCaller:
    """A teacher or manager: an admin key of ``tenant``."""
    return await make_caller(tenant=tenant, role=Role.admin)


KeyOfTenant = Callable[[Role], Awaitable[ApiCaller]]


@pytest.fixture
def key_of_tenant(make_caller: KeyFactory, tenant: str) -> KeyOfTenant:
    """Another principal of the admin's tenant, with the given role."""

    async def make(role: Role) -> ApiCaller:
        return await make_caller(tenant=tenant, role=role)

    return make


@pytest.fixture
def fake() -> FakeOpenAI:
    return FakeOpenAI()


@pytest.fixture
async def fake_url(fake: FakeOpenAI) -> AsyncIterator[str]:
    """The fake server on a loopback port: a worker's own client reaches it by URL."""
    async with serving(fake) as url:
        yield url


@pytest.fixture
def model_settings(database_url: str, fake_url: str) -> Settings:
    """A worker's settings with the OpenAI provider pointed at the fake server."""
    llm = {
        "provider": "openai",
        "api_key": "sk-test-not-a-real-key",
        "base_url": fake_url,
        "model": "fake-model",
        "timeout": 30,
    }
    return test_settings(database_url, feedback=FEEDBACK, llm=llm)
