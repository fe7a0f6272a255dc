"""Request ids and one structured log line per request (pure ASGI, no per-request task)."""

from __future__ import annotations

import logging
import time

import structlog
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backend.errors import unexpected_error_response
from backend.ids import new_id

log = logging.getLogger("opsapi.request")

# Path parameters that are credentials (a reviewer's private link): logged by name only.
SECRET_PATH_PARAMETERS = frozenset({"token"})


def loggable_path(scope: Scope) -> str:
    """The request's path with every credential in it replaced by its parameter's name
    (``/api/v1/reviews/{token}``), for logs."""
    path: str = scope["path"]
    params = scope.get("path_params") or {}
    secrets = {str(params[name]): name for name in SECRET_PATH_PARAMETERS & params.keys()}
    if not secrets:
        return path
    return "/".join(
        "{" + secrets[part] + "}" if part in secrets else part for part in path.split("/")
    )


class RequestContext:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        usable = incoming.isascii() and incoming.isprintable() and incoming.strip()
        request_id = incoming[:64] if usable else new_id().hex
        scope.setdefault("state", {})["request_id"] = request_id
        structlog.contextvars.bind_contextvars(request_id=request_id)
        status = 500
        response_started = False
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                message.setdefault("headers", [])
                message["headers"] = [
                    *message["headers"],
                    (b"x-request-id", request_id.encode("latin-1")),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            # Answered here rather than by Starlette's outermost error middleware, so a
            # 500 carries X-Request-ID like every other answer and is logged once.
            if response_started:
                raise
            response = await unexpected_error_response(Request(scope), exc)
            await response(scope, receive, send_with_id)
        finally:
            log.info(
                "request",
                extra={
                    "method": scope["method"],
                    "path": loggable_path(scope),
                    "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                },
            )
            structlog.contextvars.unbind_contextvars("request_id")
