"""The OpenAPI document: error answers as problem+json, readable operation ids, and the
stable rendering committed as ``docs/openapi.json``."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from pydantic import BaseModel

from backend.errors import PROBLEM_JSON, FieldError, Problem
from backend.problem_codes import codes_by_status

if TYPE_CHECKING:
    from backend.operations.registry import Registry

PROBLEM_REF = "#/components/schemas/Problem"
DATABASE_UNAVAILABLE = "The database cannot be reached right now; retry after `Retry-After`."
# FastAPI documents its own validation answer; ours is a Problem with ``errors``.
_FASTAPI_VALIDATION_SCHEMAS = ("HTTPValidationError", "ValidationError")


def operation_id(route: APIRoute) -> str:
    """The route's name (``get_operation``), which client generators turn into a method."""
    return route.name


def endpoints_by_name(routers: Iterable[APIRouter]) -> dict[str, Callable[..., Any]]:
    """Each route's endpoint function by its operation id."""
    return {
        operation_id(route): route.endpoint
        for router in routers
        for route in router.routes
        if isinstance(route, APIRoute)
    }


def install_openapi(
    app: FastAPI,
    registry: Registry | None = None,
    endpoints: dict[str, Callable[..., Any]] | None = None,
) -> None:
    """Serve the document with every error answer declared as problem+json naming its
    codes (given the endpoints) and, given the registry, the Operation typed per kind
    (see ``type_operation_results``)."""

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
            if endpoints is not None:
                _name_problem_codes(schema, endpoints)
            if registry is not None:
                type_operation_results(schema, registry)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def document_text(app: FastAPI) -> str:
    """The document as committed: sorted keys, two-space indent, trailing newline."""
    return json.dumps(app.openapi(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


# Answers any route may give, declared once here rather than on every route
# (docs/limits.md): an unreadable body, a body over its limit, and a client throttled
# for failed logins.
_UNREADABLE = "The body cannot be read (not UTF-8, or nested too deep)."
_TOO_LARGE = "The request body is larger than the configured limit."
_THROTTLED = "Too many failed authentications from this client or with this key; wait Retry-After."


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
    for path, path_item in schema.get("paths", {}).items():
        for operation in path_item.values():
            _declare_limits(operation)
            responses = operation.get("responses", {})
            if path.startswith("/api/"):
                # Any API route answers 503 while the database cannot be reached.
                responses.setdefault("503", {"description": DATABASE_UNAVAILABLE})
            for status, response in responses.items():
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


def _name_problem_codes(schema: dict[str, Any], endpoints: dict[str, Callable[..., Any]]) -> None:
    """List in each error answer the problem codes it can carry (``x-problem-codes``
    and its description), from the errors its route can reach (backend.problem_codes)."""
    for path_item in schema.get("paths", {}).values():
        for operation in path_item.values():
            endpoint = endpoints.get(operation.get("operationId", ""))
            if endpoint is None:
                continue
            responses = operation.get("responses", {})
            idempotent = any(
                parameter.get("name", "").lower() == "idempotency-key"
                for parameter in operation.get("parameters", [])
            )
            statuses = [
                int(status)
                for status, response in responses.items()
                if status.isdigit() and PROBLEM_JSON in response.get("content", {})
            ]
            for status, codes in codes_by_status(endpoint, statuses, idempotent).items():
                response = responses[str(status)]
                response["x-problem-codes"] = codes
                named = ", ".join(f"`{code}`" for code in codes)
                response["description"] = f"{response.get('description', '')} Codes: {named}."


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


OPERATION_SCHEMA = "OperationOut"


def type_operation_results(schema: dict[str, Any], registry: Registry) -> None:
    """Make the Operation a union discriminated on ``kind``, one variant per registered
    kind whose ``result`` is that kind's result type (any JSON for a kind that declares
    none), so a generated client reads a typed result. Every answer that refers to the
    Operation (reads, lists, 202s, nested operations) gets the union."""
    schemas = schema.get("components", {}).get("schemas", {})
    base = schemas.get(OPERATION_SCHEMA)
    kinds = sorted(registry, key=lambda kind: kind.name)
    if base is None or not kinds:
        return
    mapping: dict[str, str] = {}
    for kind in kinds:
        name = _variant_name(kind.name)
        variant = copy.deepcopy(base)
        variant["title"] = name
        variant["description"] = f"An operation of kind `{kind.name}`."
        properties = variant["properties"]
        properties["kind"] = {"type": "string", "const": kind.name, "title": "Kind"}
        properties["result"] = {
            "description": properties["result"].get("description", "The result."),
            "title": "Result",
        }
        if kind.result is not None:
            reference = _component(schemas, kind.result)
            properties["result"]["anyOf"] = [{"$ref": reference}, {"type": "null"}]
        schemas[name] = variant
        mapping[kind.name] = f"#/components/schemas/{name}"
    schemas[OPERATION_SCHEMA] = {
        "title": OPERATION_SCHEMA,
        "description": "An operation; `kind` tells which variant, and so the type of `result`.",
        "oneOf": [{"$ref": reference} for reference in mapping.values()],
        "discriminator": {"propertyName": "kind", "mapping": mapping},
    }


def _variant_name(kind: str) -> str:
    """``interview.feedback`` → ``InterviewFeedbackOperation``."""
    words = kind.replace("_", ".").split(".")
    return "".join(word.capitalize() for word in words) + "Operation"


def _component(schemas: dict[str, Any], model: type[BaseModel]) -> str:
    """Register ``model``'s answer schema (and the models it uses) among the components;
    its reference. A name already taken by a different schema gets a ``Result`` suffix."""
    rendered = model.model_json_schema(
        mode="serialization", ref_template="#/components/schemas/{model}"
    )
    for name, definition in rendered.pop("$defs", {}).items():
        schemas.setdefault(name, definition)
    name = model.__name__
    if schemas.get(name, rendered) != rendered:
        name = f"{name}Result"
    schemas[name] = rendered
    return f"#/components/schemas/{name}"
