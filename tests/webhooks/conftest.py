"""Webhook fixtures: a registry that delivers webhooks, an admin caller, a real receiver."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from starlette.types import Receive, Scope, Send

from backend.auth.models import Role
from backend.config import Settings
from backend.operations.registry import Registry
from backend.operations.webhooks import register_webhooks
from tests import kinds
from tests.conftest import ApiCaller, KeyFactory, test_settings
from tests.factories import free_port

DOCS = Path(__file__).resolve().parents[2] / "docs" / "following-operations.md"

WEBHOOKS = {
    "timeout_seconds": 5.0,
    "max_attempts": 4,
    "backoff_base_seconds": 0.05,
    "backoff_max_seconds": 0.2,
}


@pytest.fixture
def settings(database_url: str) -> Settings:
    return test_settings(database_url, webhooks=WEBHOOKS)


@pytest.fixture
def registry(settings: Settings) -> Registry:
    registry = Registry()
    register_webhooks(registry, settings)
    kinds.register(registry)
    return registry


@pytest.fixture
async def admin(make_caller: KeyFactory) -> ApiCaller:
    return await make_caller(role=Role.admin)


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A webhook receiver on a loopback port: records every request and answers with
    the scripted statuses in turn (then 204)."""

    url: str
    answers: list[int] = field(default_factory=list)
    requests: list[Received] = field(default_factory=list)
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        self.requests.append(Received(headers, body))
        self._arrived.set()
        status = self.answers.pop(0) if self.answers else 204
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def wait_for(self, count: int, timeout: float = 20.0) -> list[Received]:
        """Wait until ``count`` requests have arrived (a bound, not a timing claim)."""
        async with asyncio.timeout(timeout):
            while len(self.requests) < count:
                self._arrived.clear()
                await self._arrived.wait()
        return self.requests


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    port = free_port()
    hook = Receiver(url=f"http://127.0.0.1:{port}/hooks")
    config = uvicorn.Config(hook, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    yield hook
    server.should_exit = True
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.wait_for(task, timeout=10)


Verifier = Callable[[str, dict[str, str], bytes], bool]


@pytest.fixture(scope="session")
def verify_webhook() -> Verifier:
    """The signature check published in docs/following-operations.md, run as written."""
    text = DOCS.read_text()
    block = next(
        b for b in re.findall(r"```python\n(.*?)```", text, re.S) if "def verify_webhook" in b
    )
    namespace: dict[str, Any] = {}
    exec(compile(block, str(DOCS), "exec"), namespace)
    verify: Verifier = namespace["verify_webhook"]
    return verify
