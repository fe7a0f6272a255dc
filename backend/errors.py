"""One application error type, rendered everywhere as RFC 9457 problem+json."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"


class AppError(Exception):
    """A failure the client should see: an HTTP status, a stable code and a readable detail."""

    status: int = 500
    code: str = "INTERNAL_ERROR"
    title: str = "Internal server error"

    def __init__(
        self,
        detail: str | None = None,
        *,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.detail = detail or self.title
        self.headers = headers or {}
        self.extra = extra or {}
        super().__init__(self.detail)


class NotAuthenticated(AppError):
    status = 401
    code = "NOT_AUTHENTICATED"
    title = "Missing or invalid API key"


class PermissionDenied(AppError):
    status = 403
    code = "PERMISSION_DENIED"
    title = "Not allowed"


class NotFound(AppError):
    status = 404
    code = "NOT_FOUND"
    title = "Not found"


class Conflict(AppError):
    status = 409
    code = "CONFLICT"
    title = "Conflict"


class ServiceUnavailable(AppError):
    status = 503
    code = "SERVICE_UNAVAILABLE"
    title = "Service unavailable"


class FieldError(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class Problem(BaseModel):
    """RFC 9457 problem details, with a stable machine-readable ``code``."""

    type: str = Field(examples=["urn:opsapi:problem:operation-not-found"])
    title: str
    status: int
    detail: str
    code: str = Field(examples=["OPERATION_NOT_FOUND"])
    instance: str | None = None
    request_id: str | None = None
    errors: list[FieldError] | None = None


def problem_response(
    request: Request,
    *,
    status: int,
    code: str,
    title: str,
    detail: str,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": "urn:opsapi:problem:" + code.lower().replace("_", "-"),
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
        "instance": request.url.path,
        "request_id": request.scope.get("state", {}).get("request_id"),
    }
    if extra:
        body.update(extra)
    return JSONResponse(
        jsonable_encoder(body), status_code=status, headers=headers, media_type=PROBLEM_JSON
    )


async def _app_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    return problem_response(
        request,
        status=exc.status,
        code=exc.code,
        title=exc.title,
        detail=exc.detail,
        headers=exc.headers,
        extra=exc.extra,
    )


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
        for e in exc.errors()
    ]
    return _validation_problem(request, errors)


def _validation_problem(request: Request, errors: list[dict[str, Any]]) -> JSONResponse:
    return problem_response(
        request,
        status=422,
        code="VALIDATION_ERROR",
        title="Invalid request",
        detail="The request is not valid: see errors for each field.",
        extra={"errors": errors},
    )


_HTTP_CODES = {
    # FastAPI's answer to a body it cannot read: nesting too deep to parse, text that
    # is not UTF-8.
    400: (
        "INVALID_BODY",
        "Unreadable request body",
        "The request body cannot be read: send JSON encoded as UTF-8, nested at most a "
        "few hundred levels deep.",
    ),
    404: ("NOT_FOUND", "Not found", "No resource exists at this URL."),
    405: ("METHOD_NOT_ALLOWED", "Method not allowed", "This URL does not accept this method."),
}


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400:
        # The framework's only 400: a body that does not parse as its content type
        # (bytes that are not UTF-8 JSON). Every route documents 422 for bad input.
        return _validation_problem(
            request, [{"loc": ["body"], "msg": str(exc.detail), "type": "body_invalid"}]
        )
    code, title, detail = _HTTP_CODES.get(
        exc.status_code, ("HTTP_ERROR", "HTTP error", str(exc.detail))
    )
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = ", ".join(_methods_of_path(request))
    return problem_response(
        request, status=exc.status_code, code=code, title=title, detail=detail, headers=headers
    )


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def _methods_of_path(request: Request) -> list[str]:
    """Every method some route serves at this URL, for a 405's ``Allow`` header
    (Starlette names only the first matching route's): each method is tried against
    the app's routes as the router itself would."""
    from starlette.routing import Match

    routes = request.app.router.routes
    return [
        method
        for method in _METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] == Match.FULL for route in routes
        )
    ]


async def unexpected_error_response(request: Request, exc: Exception) -> JSONResponse:
    """500 for a fault on our side (503 when it is the database being unreachable, 422
    when the input holds text PostgreSQL refuses).

    The exception goes to the log under the request id; the client gets no detail of it.
    """
    request_id = request.scope.get("state", {}).get("request_id")
    if _is_text_postgres_refuses(exc):
        return _text_postgres_refuses(request)
    if _is_database_unavailable(exc):
        log.warning("database unavailable", extra={"request_id": request_id, "error": str(exc)})
        return await _database_unavailable(request)
    log.error("unhandled error", exc_info=exc, extra={"request_id": request_id})
    return problem_response(
        request,
        status=500,
        code="INTERNAL_ERROR",
        title="Internal server error",
        detail="Something went wrong on our side. Retry later; if it persists, report it "
        "with the request_id.",
    )


def _is_database_unavailable(exc: BaseException) -> bool:
    import asyncpg
    from sqlalchemy import exc as sa_exc

    if isinstance(exc, sa_exc.TimeoutError | ConnectionError | asyncpg.PostgresConnectionError):
        return True
    if isinstance(exc, sa_exc.DBAPIError):
        if exc.connection_invalidated:
            return True
        return exc.orig is not None and _is_database_unavailable(exc.orig)
    # "too many clients" (53300) is the server refusing a connection too: retry later.
    if isinstance(
        exc, OSError | asyncpg.exceptions.CannotConnectNowError | asyncpg.TooManyConnectionsError
    ):
        return True
    cause = exc.__cause__
    return cause is not None and _is_database_unavailable(cause)


# character_not_in_repertoire, untranslatable_character: text PostgreSQL cannot store
# (a NUL character, \u0000 in JSON). Whatever field or header it came in by, the
# statement failed and the request's transaction rolls back: the client's input is at
# fault, not the server.
_UNSTORABLE_TEXT = frozenset({"22021", "22P05"})


def _is_text_postgres_refuses(exc: BaseException | None) -> bool:
    while exc is not None:
        if getattr(exc, "sqlstate", None) in _UNSTORABLE_TEXT:
            return True
        exc = getattr(exc, "orig", None) or exc.__cause__
    return False


def _text_postgres_refuses(request: Request) -> JSONResponse:
    return problem_response(
        request,
        status=422,
        code="INVALID_TEXT",
        title="Invalid text",
        detail="The request contains text that cannot be stored, such as a NUL character "
        "(\\u0000). Remove it and send the request again.",
    )


async def _database_unavailable(request: Request) -> JSONResponse:
    return problem_response(
        request,
        status=503,
        code="DATABASE_UNAVAILABLE",
        title="Service unavailable",
        detail="The database cannot be reached right now. Retry after the given delay.",
        headers={"Retry-After": "5"},
    )


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    return await unexpected_error_response(request, exc)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)


_RESPONSE_DESCRIPTIONS = {
    400: "The request cannot be processed as sent.",
    401: "No API key, a malformed Authorization header, or an unknown or revoked key.",
    403: "The API key may not do this.",
    404: "Not found (another tenant's resources are never visible).",
    409: "Conflicts with the current state of the resource.",
    422: "Invalid request: `errors` lists each field.",
    503: "A dependency is unavailable; retry after `Retry-After`.",
}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries documenting problem+json answers for the given statuses (the
    document lists them under ``application/problem+json``: see backend.openapi)."""
    return {
        status: {"model": Problem, "description": _RESPONSE_DESCRIPTIONS.get(status, "Problem")}
        for status in statuses
    }
