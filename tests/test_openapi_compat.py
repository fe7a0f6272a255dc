"""The breaking-change check: each kind of break is found, an acknowledged one passes,
and the app's document breaks nothing against the committed one of the base revision."""

from __future__ import annotations

import copy
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from backend.main import documented_app
from backend.openapi_compat import acknowledged, breaking_changes

ROOT = Path(__file__).resolve().parent.parent
DOCUMENT = "docs/openapi.json"
ACKNOWLEDGED = ROOT / "docs" / "openapi-breaking.txt"

Json = dict[str, Any]


def _document() -> Json:
    """A small API: a list with a filter and a create taking a body."""
    return {
        "openapi": "3.1.0",
        "paths": {
            "/things": {
                "get": {
                    "parameters": [
                        {
                            "in": "query",
                            "name": "status",
                            "required": False,
                            "schema": {"$ref": "#/components/schemas/Status"},
                        }
                    ],
                    "responses": {
                        "200": {
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "array",
                                        "items": {"$ref": "#/components/schemas/Thing"},
                                    }
                                }
                            }
                        },
                        "401": {"description": "No key"},
                    },
                },
                "post": {
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/New"}}
                        },
                    },
                    "responses": {"201": {"description": "Created"}},
                },
            }
        },
        "components": {
            "schemas": {
                "Status": {"type": "string", "enum": ["open", "closed"]},
                "Thing": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "string"},
                        "size": {"type": "integer"},
                        "owner": {
                            "type": "object",
                            "properties": {"name": {"type": "string"}},
                        },
                    },
                },
                "New": {
                    "type": "object",
                    "required": ["name"],
                    "properties": {"name": {"type": "string"}, "note": {"type": "string"}},
                },
            }
        },
    }


def _ids(old: Json, new: Json) -> list[str]:
    return [change.id for change in breaking_changes(old, new)]


def test_an_unchanged_or_extended_document_breaks_nothing() -> None:
    old = _document()
    new = copy.deepcopy(old)
    new["paths"]["/other"] = {"get": {"responses": {"200": {"description": "ok"}}}}
    new["components"]["schemas"]["Thing"]["properties"]["colour"] = {"type": "string"}
    new["components"]["schemas"]["Status"]["enum"].append("archived")
    new["paths"]["/things"]["get"]["responses"]["404"] = {"description": "gone"}

    assert _ids(old, old) == []
    assert _ids(old, new) == []


def test_a_removed_operation_is_breaking() -> None:
    new = _document()
    del new["paths"]["/things"]["post"]

    assert _ids(_document(), new) == ["removed-operation POST /things"]


def test_a_removed_status_code_is_breaking() -> None:
    new = _document()
    del new["paths"]["/things"]["get"]["responses"]["401"]

    assert _ids(_document(), new) == ["removed-status GET /things 401"]


def test_a_removed_answer_field_is_breaking_at_any_depth() -> None:
    new = _document()
    thing = new["components"]["schemas"]["Thing"]["properties"]
    del thing["size"]
    del thing["owner"]["properties"]["name"]

    assert _ids(_document(), new) == [
        "removed-response-field GET /things 200 [].size",
        "removed-response-field GET /things 200 [].owner.name",
    ]


def test_a_retyped_answer_field_is_breaking() -> None:
    new = _document()
    new["components"]["schemas"]["Thing"]["properties"]["size"] = {"type": "string"}

    assert _ids(_document(), new) == ["changed-response-type GET /things 200 [].size"]


def test_a_new_required_parameter_is_breaking() -> None:
    new = _document()
    new["paths"]["/things"]["get"]["parameters"].append(
        {"in": "header", "name": "X-Team", "required": True, "schema": {"type": "string"}}
    )
    new["paths"]["/things"]["get"]["parameters"][0]["required"] = True

    assert _ids(_document(), new) == [
        "new-required-parameter GET /things query:status",
        "new-required-parameter GET /things header:X-Team",
    ]


def test_a_new_required_body_field_is_breaking() -> None:
    new = _document()
    new["components"]["schemas"]["New"]["required"].append("note")

    assert _ids(_document(), new) == ["new-required-field POST /things body.note"]


def test_a_narrowed_enum_is_breaking() -> None:
    new = _document()
    new["components"]["schemas"]["Status"]["enum"] = ["open"]

    assert _ids(_document(), new) == ["narrowed-enum GET /things query:status"]


def test_a_retyped_request_field_is_breaking() -> None:
    new = _document()
    new["components"]["schemas"]["New"]["properties"]["note"] = {"type": "integer"}

    assert _ids(_document(), new) == ["changed-request-type POST /things body.note"]


def test_an_operation_turned_into_a_union_keeps_the_fields_every_variant_has() -> None:
    old = _document()
    new = copy.deepcopy(old)
    schemas = new["components"]["schemas"]
    small = copy.deepcopy(schemas["Thing"])
    del small["properties"]["size"]
    schemas["BigThing"], schemas["SmallThing"] = schemas["Thing"], small
    schemas["Thing"] = {
        "oneOf": [
            {"$ref": "#/components/schemas/BigThing"},
            {"$ref": "#/components/schemas/SmallThing"},
        ]
    }

    assert _ids(old, new) == ["removed-response-field GET /things 200 [].size"]


def test_acknowledged_ids_are_read_without_comments(tmp_path: Path) -> None:
    listed = tmp_path / "breaking.txt"
    listed.write_text("# deliberate\nremoved-operation POST /things  # moved to /v2\n\n")

    assert acknowledged(listed) == {"removed-operation POST /things"}
    assert acknowledged(tmp_path / "missing.txt") == set()


def _base_document() -> Json:
    """The committed document of the base revision: ``OPSAPI_OPENAPI_BASE`` (a git
    revision), else ``main``, else this checkout's own committed file."""
    for revision in filter(None, [os.environ.get("OPSAPI_OPENAPI_BASE"), "main"]):
        shown = subprocess.run(
            ["git", "show", f"{revision}:{DOCUMENT}"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        if shown.returncode == 0:
            base: Json = json.loads(shown.stdout)
            return base
        if revision == os.environ.get("OPSAPI_OPENAPI_BASE"):
            pytest.fail(f"OPSAPI_OPENAPI_BASE={revision}: {shown.stderr.strip()}")
    committed: Json = json.loads((ROOT / DOCUMENT).read_text(encoding="utf-8"))
    return committed


def test_the_app_breaks_no_client_of_the_committed_document() -> None:
    allowed = acknowledged(ACKNOWLEDGED)
    changes = breaking_changes(_base_document(), documented_app().openapi())
    unacknowledged = [f"{c.id}  ({c.detail})" for c in changes if c.id not in allowed]

    assert not unacknowledged, (
        "the API breaks clients generated from the committed docs/openapi.json:\n  "
        + "\n  ".join(unacknowledged)
        + "\nIf deliberate, list each id in docs/openapi-breaking.txt (see "
        "docs/contract-testing.md)."
    )
