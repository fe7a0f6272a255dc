"""A scriptable OpenAI-compatible server: ``POST /v1/chat/completions``, plain, with
``response_format`` (json_schema or json_object), and streamed as server-sent events.

Each test scripts the answers in order (``fake.script(Reply.json({...}), ...)``):
status codes with OpenAI error bodies and headers (429 with ``retry-after``, 500),
delays (timeouts), malformed content, bodies that are no completion at all, token
counts, refusals, truncation; or compute each answer from its request. The server
records every request body, and how many requests it held at once.

Use it through ``httpx2.ASGITransport`` (``asgi_client``) or as a real server on a
loopback port (``serving``), so the real SDK code runs either way.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx2
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route


@dataclass
class Reply:
    """One scripted answer."""

    status: int = 200
    content: str | None = "{}"
    # Streamed answers: these pieces (default: the content in pieces of 8 characters).
    chunks: list[str] | None = None
    chunk_delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    error: dict[str, Any] | None = None
    delay: float = 0.0
    prompt_tokens: int = 12
    completion_tokens: int = 8
    usage: bool = True
    finish_reason: str = "stop"
    refusal: str | None = None
    # A body sent as it is instead of a completion (an HTML error page from a proxy,
    # a truncated JSON document), with this content type.
    raw: str | None = None
    raw_type: str = "text/html"

    @classmethod
    def json(cls, value: Any, **options: Any) -> Reply:
        return cls(content=json.dumps(value), **options)

    @classmethod
    def text(cls, content: str, **options: Any) -> Reply:
        return cls(content=content, **options)

    @classmethod
    def garbage(cls, body: str, content_type: str = "text/html", **options: Any) -> Reply:
        """A 200 whose body is not a completion at all."""
        return cls(raw=body, raw_type=content_type, **options)

    @classmethod
    def failure(
        cls,
        status: int,
        message: str = "The fake server says no.",
        *,
        code: str | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
        **options: Any,
    ) -> Reply:
        error = {"message": message, "type": "fake_error", "param": param, "code": code}
        return cls(status=status, error=error, headers=headers or {}, **options)


class FakeOpenAI:
    def __init__(self) -> None:
        self.replies: deque[Reply] = deque()
        # Answer computed from each request when nothing is scripted (an answer that
        # depends on the input, a latency drawn per request).
        self.respond: Callable[[dict[str, Any]], Reply] | None = None
        # Answer when nothing is scripted and nothing computes one (None: a 500 that
        # says so).
        self.default: Reply | None = None
        self.requests: list[dict[str, Any]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._ids = itertools.count(1)
        self._gate: asyncio.Event | None = None
        self._gate_at = 0
        self._closing = asyncio.Event()
        self.app = Starlette(
            routes=[Route("/v1/chat/completions", self._chat_completions, methods=["POST"])]
        )

    def script(self, *replies: Reply) -> None:
        self.replies.extend(replies)

    def hold_until(self, in_flight: int) -> None:
        """Hold every request until ``in_flight`` requests are held at once."""
        self._gate = asyncio.Event()
        self._gate_at = in_flight

    def release(self) -> None:
        if self._gate is not None:
            self._gate.set()

    def close(self) -> None:
        """End every pending delay at once (before a server shuts down)."""
        self._closing.set()
        self.release()

    async def _chat_completions(self, request: Request) -> Response:
        body = await request.json()
        self.requests.append(body)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            reply: Reply | None = self.default
            if self.replies:
                reply = self.replies.popleft()
            elif self.respond is not None:
                reply = self.respond(body)
            if reply is None:
                reply = Reply.failure(500, "Nothing was scripted for this request.")
            if self._gate is not None:
                if self.in_flight >= self._gate_at:
                    self._gate.set()
                await self._pause(self._gate.wait(), 10.0)
            if reply.delay:
                await self._pause(self._closing.wait(), reply.delay)
            return self._answer(body, reply)
        finally:
            self.in_flight -= 1

    async def _pause(self, until: Any, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(until, timeout=seconds)

    def _answer(self, body: dict[str, Any], reply: Reply) -> Response:
        if reply.raw is not None:
            return Response(reply.raw, status_code=reply.status, media_type=reply.raw_type)
        if reply.status >= 400:
            return JSONResponse(
                {"error": reply.error}, status_code=reply.status, headers=reply.headers
            )
        if body.get("stream"):
            return StreamingResponse(
                self._events(body, reply), media_type="text/event-stream", headers=reply.headers
            )
        completion = {
            "id": f"chatcmpl-fake-{next(self._ids)}",
            "object": "chat.completion",
            "created": 0,
            "model": body["model"],
            "choices": [
                {
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": reply.content,
                        "refusal": reply.refusal,
                    },
                    "finish_reason": reply.finish_reason,
                    "logprobs": None,
                }
            ],
        }
        if reply.usage:
            completion["usage"] = _usage(reply)
        return JSONResponse(completion, headers=reply.headers)

    async def _events(self, body: dict[str, Any], reply: Reply) -> AsyncIterator[str]:
        content = reply.content or ""
        pieces = reply.chunks or [content[i : i + 8] for i in range(0, len(content), 8)]
        base = {
            "id": f"chatcmpl-fake-{next(self._ids)}",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": body["model"],
        }
        for piece in pieces:
            if reply.chunk_delay:
                await asyncio.sleep(reply.chunk_delay)
            delta = {"index": 0, "delta": {"content": piece}, "finish_reason": None}
            yield _event({**base, "choices": [delta]})
        done = {"index": 0, "delta": {}, "finish_reason": reply.finish_reason}
        yield _event({**base, "choices": [done]})
        if reply.usage and (body.get("stream_options") or {}).get("include_usage"):
            yield _event({**base, "choices": [], "usage": _usage(reply)})
        yield "data: [DONE]\n\n"


def _usage(reply: Reply) -> dict[str, int]:
    return {
        "prompt_tokens": reply.prompt_tokens,
        "completion_tokens": reply.completion_tokens,
        "total_tokens": reply.prompt_tokens + reply.completion_tokens,
    }


def _event(data: dict[str, Any]) -> str:
    return f"data: {json.dumps(data)}\n\n"


def asgi_client(fake: FakeOpenAI) -> httpx2.AsyncClient:
    """An HTTP client for the SDK that sends every request to ``fake`` in memory."""
    return httpx2.AsyncClient(transport=httpx2.ASGITransport(app=fake.app))


@contextlib.asynccontextmanager
async def serving(fake: FakeOpenAI) -> AsyncIterator[str]:
    """Run ``fake`` with uvicorn on a free loopback port; yields its ``/v1`` base URL."""
    config = uvicorn.Config(fake.app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=None))
    try:
        async with asyncio.timeout(10):
            while not server.started:
                if task.done():
                    task.result()
                await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        fake.close()
        server.should_exit = True
        await asyncio.wait_for(task, timeout=10)
