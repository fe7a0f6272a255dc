"""The OpenAPI document is good enough to generate a client from: every operation has
a summary, tags and its error answers, each error answer names its problem codes, the
main request bodies have examples, and an operation's result is typed per kind."""

from __future__ import annotations

from typing import Any

import pytest

from backend.config import Settings
from backend.errors import AppError
from backend.features import build_registry
from backend.main import documented_app

METHODS = {"get", "put", "post", "delete", "patch"}
# Liveness answers 200 whenever the process runs: it has no error to document.
NO_ERRORS = {("GET", "/healthz")}

Json = dict[str, Any]


@pytest.fixture(scope="module")
def document() -> Json:
    schema: Json = documented_app().openapi()
    return schema


def _operations(document: Json) -> list[tuple[str, str, Json]]:
    return [
        (method.upper(), path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    ]


def test_every_operation_has_a_summary_tags_and_error_answers(document: Json) -> None:
    lacking = []
    for method, path, operation in _operations(document):
        errors = [status for status in operation["responses"] if int(status) >= 400]
        if not operation.get("summary") or not operation.get("tags"):
            lacking.append(f"{method} {path}: summary or tags")
        if not errors and (method, path) not in NO_ERRORS:
            lacking.append(f"{method} {path}: no error answer")

    assert not lacking, "\n".join(lacking)


def test_every_problem_answer_names_its_codes(document: Json) -> None:
    known = {error.code for error in _all_errors(AppError)} | {"VALIDATION_ERROR"}
    known |= {"DATABASE_UNAVAILABLE", "INVALID_BODY"}
    wrong = []
    for method, path, operation in _operations(document):
        for status, answer in operation["responses"].items():
            if "application/problem+json" not in answer.get("content", {}):
                continue
            codes = answer.get("x-problem-codes")
            if not codes:
                wrong.append(f"{method} {path} {status}: no x-problem-codes")
                continue
            unknown = set(codes) - known
            unnamed = [code for code in codes if f"`{code}`" not in answer["description"]]
            if unknown or unnamed:
                wrong.append(f"{method} {path} {status}: unknown {unknown}, unnamed {unnamed}")

    assert not wrong, "\n".join(wrong)


def test_a_route_names_the_codes_of_its_own_errors(document: Json) -> None:
    feedback = document["paths"]["/api/v1/sessions/{session_id}/generate-feedback"]["post"]
    get = document["paths"]["/api/v1/operations/{operation_id}"]["get"]

    assert "SESSION_NOT_COMPLETED" in feedback["responses"]["400"]["x-problem-codes"]
    assert "FEEDBACK_ALREADY_EXISTS" in feedback["responses"]["409"]["x-problem-codes"]
    assert "OPERATION_NOT_FOUND" in get["responses"]["404"]["x-problem-codes"]
    assert get["responses"]["401"]["x-problem-codes"] == ["NOT_AUTHENTICATED"]
    assert "VALIDATION_ERROR" in get["responses"]["422"]["x-problem-codes"]


def test_json_request_bodies_have_examples(document: Json) -> None:
    schemas = document["components"]["schemas"]
    lacking = []
    for method, path, operation in _operations(document):
        content = operation.get("requestBody", {}).get("content", {})
        if "application/json" not in content:
            continue
        reference = content["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
        if not schemas[reference].get("examples"):
            lacking.append(f"{method} {path}: {reference}")

    assert not lacking, "\n".join(lacking)


def test_the_operation_is_a_union_discriminated_on_kind(document: Json) -> None:
    schemas = document["components"]["schemas"]
    union = schemas["OperationOut"]
    kinds = build_registry(Settings())

    assert union["discriminator"]["propertyName"] == "kind"
    assert set(union["discriminator"]["mapping"]) == set(kinds.names())
    assert len(union["oneOf"]) == len(kinds.names())
    for kind in kinds:
        variant = schemas[union["discriminator"]["mapping"][kind.name].rsplit("/", 1)[-1]]
        assert variant["properties"]["kind"]["const"] == kind.name
        result = variant["properties"]["result"]
        if kind.result is None:
            assert "anyOf" not in result, kind.name
        else:
            reference = result["anyOf"][0]["$ref"].rsplit("/", 1)[-1]
            assert schemas[reference]["title"] == kind.result.__name__
            assert result["anyOf"][1] == {"type": "null"}


def test_every_answer_with_an_operation_refers_to_the_typed_union(document: Json) -> None:
    accepted = document["paths"]["/api/v1/sessions/{session_id}/generate-feedback"]["post"]
    schema = accepted["responses"]["202"]["content"]["application/json"]["schema"]

    assert schema == {"$ref": "#/components/schemas/OperationOut"}
    listed = document["components"]["schemas"]["OperationList"]["properties"]["operations"]
    assert listed["items"] == {"$ref": "#/components/schemas/OperationOut"}


def _all_errors(base: type[AppError]) -> set[type[AppError]]:
    found = set(base.__subclasses__())
    for sub in list(found):
        found |= _all_errors(sub)
    return found
