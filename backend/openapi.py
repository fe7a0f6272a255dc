"""The OpenAPI document: error answers as problem+json, readable operation ids, and the
stable rendering committed as ``docs/openapi.json``."""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from backend.errors import PROBLEM_JSON, FieldError, Problem

PROBLEM_REF = "#/components/schemas/Problem"
# FastAPI documents its own validation answer; ours is a Problem with ``errors``.
_FASTAPI_VALIDATION_SCHEMAS = ("HTTPValidationError", "ValidationError")


def operation_id(route: APIRoute) -> str:
    """The route's name (``get_operation``), which client generators turn into a method."""
    return route.name


def install_openapi(app: FastAPI) -> None:
    """Serve the document with every error answer declared as problem+json."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
                tags=app.openapi_tags,
                servers=app.servers,
            )
            _declare_problems(schema)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def document_text(app: FastAPI) -> str:
    """The document as committed: sorted keys, two-space indent, trailing newline."""
    return json.dumps(app.openapi(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


# Answers any route may give, declared once here rather than on every route
# (docs/limits.md): an unreadable body, a body over its limit, and a client throttled
# for failed logins.
_UNREADABLE = "INVALID_BODY: the body cannot be read (not UTF-8, or nested too deep)."
_TOO_LARGE = "PAYLOAD_TOO_LARGE: the request body is larger than the configured limit."
_THROTTLED = (
    "TOO_MANY_AUTH_FAILURES: too many failed authentications from this client or with "
    "this key; wait Retry-After."
)


def _declare_limits(operation: dict[str, Any]) -> None:
    responses = operation.setdefault("responses", {})
    if "requestBody" in operation:
        responses.setdefault("400", {"description": _UNREADABLE})
        responses.setdefault("413", {"description": _TOO_LARGE})
    if operation.get("security"):
        found = responses.setdefault("429", {"description": _THROTTLED})
        if found["description"] != _THROTTLED:
            found["description"] += " " + _THROTTLED


def _declare_problems(schema: dict[str, Any]) -> None:
    for path_item in schema.get("paths", {}).values():
        for operation in path_item.values():
            _declare_limits(operation)
            for status, response in operation.get("responses", {}).items():
                if _is_problem(status, response):
                    response["content"] = {PROBLEM_JSON: {"schema": {"$ref": PROBLEM_REF}}}
                    if status == "422":
                        response["description"] = "Invalid request: `errors` lists each field."
    schemas = schema.setdefault("components", {}).setdefault("schemas", {})
    for name in _FASTAPI_VALIDATION_SCHEMAS:
        schemas.pop(name, None)
    for model in (Problem, FieldError):
        if model.__name__ not in schemas:
            schemas[model.__name__] = model.model_json_schema(
                ref_template="#/components/schemas/{model}"
            )
            schemas[model.__name__].pop("$defs", None)


def _is_problem(status: str, response: dict[str, Any]) -> bool:
    """An error answer that is (or FastAPI documented as) problem+json: one that
    refers to the Problem or to FastAPI's validation schema, or declares no body."""
    if not status.isdigit() or int(status) < 400:
        return False
    refs = {
        media.get("schema", {}).get("$ref", "").rsplit("/", 1)[-1]
        for media in response.get("content", {}).values()
    }
    return not refs or bool(refs & {"Problem", *_FASTAPI_VALIDATION_SCHEMAS})
