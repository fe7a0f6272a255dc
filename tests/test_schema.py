"""The schema stays in step with the code: models vs migrations, and the OpenAPI document."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from fastapi import FastAPI
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from backend.db import Base
from backend.main import documented_app
from backend.models import import_all_models
from backend.openapi import document_text

ROOT = Path(__file__).resolve().parent.parent
OPENAPI_JSON = ROOT / "docs" / "openapi.json"
METHODS = {"get", "put", "post", "delete", "patch"}


def _differences(connection: Connection) -> list[Any]:
    import_all_models()
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "compare_server_default": True}
    )
    return list(compare_metadata(context, Base.metadata))


async def test_migrations_create_exactly_the_schema_the_models_describe(
    engine: AsyncEngine,
) -> None:
    async with engine.connect() as conn:
        differences = await conn.run_sync(_differences)

    assert differences == [], (
        "models and migrations disagree; write a migration "
        "(alembic revision --autogenerate) for: " + "\n".join(map(str, differences))
    )


def _app() -> FastAPI:
    return documented_app()


def test_docs_openapi_json_matches_the_app() -> None:
    committed = OPENAPI_JSON.read_text(encoding="utf-8") if OPENAPI_JSON.exists() else ""

    assert committed == document_text(_app()), (
        "docs/openapi.json is out of date with the API: run `make openapi` and commit it"
    )


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    ]


def test_every_error_answer_is_documented_as_problem_json() -> None:
    document = _app().openapi()
    wrong = []
    for method, path, operation in _operations(document):
        for status, response in operation["responses"].items():
            if int(status) < 400 or path == "/readyz":
                continue
            expected = {
                "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
            }
            if response.get("content") != expected:
                wrong.append(f"{method} {path} {status}: {response.get('content')}")

    assert not wrong, "\n".join(wrong)
    assert "HTTPValidationError" not in document["components"]["schemas"]
    assert {"Problem", "FieldError"} <= set(document["components"]["schemas"])


def test_every_api_route_documents_401_and_its_validation_answer() -> None:
    document = _app().openapi()

    for method, path, operation in _operations(document):
        if not path.startswith("/api/"):
            continue
        # Routes declared public (`security: []`, e.g. a reviewer's invitation link)
        # take no API key, so they never answer 401.
        if operation.get("security") != []:
            assert "401" in operation["responses"], f"{method} {path}"
        if operation.get("parameters"):
            assert "422" in operation["responses"], f"{method} {path}"


def test_operation_ids_are_unique_route_names() -> None:
    ids = [operation["operationId"] for _, _, operation in _operations(_app().openapi())]

    assert len(ids) == len(set(ids))
    assert "get_operation" in ids
    assert all(i.isidentifier() for i in ids), ids


def test_the_committed_document_is_sorted_indented_json() -> None:
    text = OPENAPI_JSON.read_text(encoding="utf-8")

    assert text.endswith("}\n")
    assert text == json.dumps(json.loads(text), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
