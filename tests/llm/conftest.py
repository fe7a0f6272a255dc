"""Fixtures of the LLM tests: the fake OpenAI-compatible server and clients that use it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from backend.config import LlmSettings
from backend.llm import LlmClient
from backend.llm.limits import TokenBudget
from tests.fakes.openai_server import FakeOpenAI, asgi_client

ClientFactory = Callable[..., LlmClient]


@pytest.fixture
def fake() -> FakeOpenAI:
    return FakeOpenAI()


def openai_settings(**overrides: Any) -> LlmSettings:
    values: dict[str, Any] = {
        "provider": "openai",
        "api_key": "sk-test-not-a-real-key",
        "base_url": "http://fake-openai.test/v1",
        "model": "fake-model",
    }
    values.update(overrides)
    return LlmSettings.model_validate(values)


@pytest.fixture
async def make_llm(fake: FakeOpenAI) -> AsyncIterator[ClientFactory]:
    """Build clients of the OpenAI provider that reach ``fake`` in memory, through the SDK."""
    built: list[LlmClient] = []

    def make(budget: TokenBudget | None = None, **overrides: Any) -> LlmClient:
        client = LlmClient.from_settings(
            openai_settings(**overrides), http_client=asgi_client(fake), budget=budget
        )
        built.append(client)
        return client

    yield make
    for client in built:
        await client.aclose()


@pytest.fixture
def llm(make_llm: ClientFactory) -> LlmClient:
    return make_llm()
