"""Fixtures of the fault tests: the product's kinds, documents stored in the test's
folder, and a worker's settings whose model is the fake OpenAI-compatible server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from backend.config import LlmSettings, Settings
from backend.features import build_registry
from backend.operations.registry import Registry
from tests.conftest import test_settings
from tests.fakes.openai_server import FakeOpenAI, serving
from tests.features.conftest import FEEDBACK

# Short enough that a test sees a slow model cut off in seconds.
MODEL_TIMEOUT = 1.0


@pytest.fixture
def storage(tmp_path: Path) -> Path:
    return tmp_path / "documents"


@pytest.fixture
def settings(database_url: str, storage: Path) -> Settings:
    """The API's settings: no summary debounce, documents under ``storage``."""
    documents = {"storage_path": str(storage), "fsync": False}
    return test_settings(database_url, feedback=FEEDBACK, documents=documents)


@pytest.fixture
def registry(settings: Settings) -> Registry:
    """The kinds the product ships."""
    return build_registry(settings)


@pytest.fixture
def fake() -> FakeOpenAI:
    return FakeOpenAI()


@pytest.fixture
async def model_settings(settings: Settings, fake: FakeOpenAI) -> AsyncIterator[Settings]:
    """A worker's settings: the API's, with the model served by ``fake`` on a port."""
    async with serving(fake) as url:
        llm = LlmSettings(
            provider="openai",
            api_key="sk-test-not-a-real-key",
            base_url=url,
            model="fake-model",
            timeout=MODEL_TIMEOUT,
        )
        yield settings.model_copy(update={"llm": llm})
