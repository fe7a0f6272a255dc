"""Request limits: headers larger than ``limits.max_header_bytes`` are refused with 431,
a body larger than its endpoint accepts with 413 (problem+json both) before the
endpoint sees them, and nothing is written.

uvicorn's default HTTP parser (httptools) bounds neither the size of one header nor of
all of them, so the header check is made here, on every request.

The limit is checked against ``Content-Length`` when the endpoint first reads its body,
and again on every chunk as it arrives, so a chunked body without a length (or one
whose length lies) is cut off at the limit instead of being read into memory. The
limit depends on the route (an upload may carry far more than a JSON body), and the
route is only known once the request has been routed: hence a check on the first
``receive`` rather than on arrival. Endpoints that read no body never pay for it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backend.errors import AppError, problem_response


class PayloadTooLarge(AppError):
    status = 413
    code = "PAYLOAD_TOO_LARGE"
    title = "Request body too large"

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"The request body is larger than the {limit:,} bytes this endpoint accepts. "
            "Send less (page through a large set, or split it over several requests).",
            extra={"max_bytes": limit},
        )


class HeadersTooLarge(AppError):
    status = 431
    code = "HEADERS_TOO_LARGE"
    title = "Request headers too large"

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"The request's headers are larger than the {limit:,} bytes accepted. Send "
            "fewer or shorter headers (cookies of other sites included).",
            extra={"max_bytes": limit},
        )


@dataclass(frozen=True)
class RouteLimit:
    """A route's own limit, and the error that says it was exceeded."""

    max_bytes: int
    error: Callable[[], AppError]


class RequestLimits:
    """Pure ASGI middleware: ``max_header_bytes`` for all headers (names and values);
    ``default_bytes`` for every body, ``routes`` (by route name) for the few endpoints
    that take more."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_header_bytes: int,
        default_bytes: int,
        routes: Mapping[str, RouteLimit],
    ) -> None:
        self.app = app
        self.max_header_bytes = max_header_bytes
        self.default = RouteLimit(default_bytes, lambda: PayloadTooLarge(default_bytes))
        self.routes = dict(routes)

    def limit_of(self, scope: Scope) -> RouteLimit:
        name = getattr(scope.get("route"), "name", None)
        return self.routes.get(name, self.default) if isinstance(name, str) else self.default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if sum(len(name) + len(value) for name, value in scope["headers"]) > (
            self.max_header_bytes
        ):
            await _render(scope, HeadersTooLarge(self.max_header_bytes))(scope, receive, send)
            return
        announced = _content_length(scope)
        received = 0
        refused: AppError | None = None
        answered = False
        started = False

        async def limited_receive() -> Message:
            nonlocal received, refused
            if refused is not None:
                raise refused
            limit = self.limit_of(scope)
            if announced is not None and announced > limit.max_bytes:
                refused = limit.error()
                raise refused
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit.max_bytes:
                    refused = limit.error()
                    raise refused
            return message

        async def refuse() -> None:
            nonlocal answered
            assert refused is not None
            answered = True
            response = _render(scope, refused)
            await response(scope, receive, send)

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refused is None:
                started = started or message["type"] == "http.response.start"
                await send(message)
            elif message["type"] == "http.response.start" and not answered:
                # The endpoint answered after its body was cut off (FastAPI turns any
                # error while reading a body into a 400): the client gets the 413.
                await refuse()

        try:
            await self.app(scope, limited_receive, guarded_send)
        except AppError as exc:
            # An answer already begun cannot be replaced: the error goes on up.
            if exc is not refused or answered or started:
                raise
            await refuse()


def _render(scope: Scope, error: AppError) -> JSONResponse:
    return problem_response(
        Request(scope),
        status=error.status,
        code=error.code,
        title=error.title,
        detail=error.detail,
        headers={"Connection": "close", **error.headers},
        extra=error.extra,
    )


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() and len(value) < 20 else None
    return None
