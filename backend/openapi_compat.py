"""Breaking changes between two OpenAPI documents, for clients generated from the older.

What breaks such a client: an operation or a documented status that went away, a
field it reads that an answer no longer has (or has with another type), a parameter or
body field it never sent that is now required, an enum value it may send that is no
longer accepted. Each change has a stable one-line ``id`` (``removed-operation GET
/api/v1/x``); a deliberate break is acknowledged by listing its id in
``docs/openapi-breaking.txt``. See docs/contract-testing.md.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

METHODS = ("get", "put", "post", "delete", "patch", "head", "options")
# Answer schemas nest a few levels (an operation inside a list inside a page); deeper
# than this the comparison stops rather than chase recursive schemas.
MAX_DEPTH = 8

Schema = dict[str, Any]


@dataclass(frozen=True)
class BreakingChange:
    id: str
    detail: str


def breaking_changes(old: Schema, new: Schema) -> list[BreakingChange]:
    """Every change from ``old`` to ``new`` that can break a client of ``old``."""
    found: list[BreakingChange] = []
    new_paths = new.get("paths", {})
    for path, old_item in old.get("paths", {}).items():
        for method in METHODS:
            old_op = old_item.get(method)
            if old_op is None:
                continue
            where = f"{method.upper()} {path}"
            new_op = new_paths.get(path, {}).get(method)
            if new_op is None:
                found.append(BreakingChange(f"removed-operation {where}", "no longer served"))
                continue
            found += _responses(where, old, old_op, new, new_op)
            found += _parameters(where, old, old_op, new, new_op)
            found += _request_body(where, old, old_op, new, new_op)
    return found


def acknowledged(path: Path) -> set[str]:
    """The ids listed in an acknowledgement file (``#`` starts a comment)."""
    if not path.exists():
        return set()
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return {line for line in lines if line}


def _responses(
    where: str, old: Schema, old_op: Schema, new: Schema, new_op: Schema
) -> Iterator[BreakingChange]:
    new_responses = new_op.get("responses", {})
    for status, old_response in old_op.get("responses", {}).items():
        new_response = new_responses.get(status)
        if new_response is None:
            yield BreakingChange(f"removed-status {where} {status}", "answer no longer documented")
            continue
        for media, old_content in old_response.get("content", {}).items():
            new_content = new_response.get("content", {}).get(media)
            if new_content is None:
                yield BreakingChange(
                    f"removed-content-type {where} {status} {media}", "media type dropped"
                )
                continue
            yield from _answer_fields(
                f"{where} {status}",
                "",
                _Resolver(old).resolve(old_content.get("schema", {})),
                _Resolver(new).resolve(new_content.get("schema", {})),
                _Resolver(old),
                _Resolver(new),
                0,
            )


def _answer_fields(
    where: str,
    prefix: str,
    old_schema: Schema,
    new_schema: Schema,
    old: _Resolver,
    new: _Resolver,
    depth: int,
) -> Iterator[BreakingChange]:
    """Fields a client of the old answer reads that the new answer lacks or retypes."""
    if depth > MAX_DEPTH:
        return
    label = prefix or "(body)"
    old_type, new_type = _types(old, old_schema), _types(new, new_schema)
    if old_type and new_type and not new_type <= old_type:
        yield BreakingChange(
            f"changed-response-type {where} {label}",
            f"was {sorted(old_type)}, now {sorted(new_type)}",
        )
        return
    old_props, new_props = _properties(old, old_schema), _properties(new, new_schema)
    for name, old_field in old_props.items():
        field = f"{prefix}.{name}" if prefix else name
        if name not in new_props:
            yield BreakingChange(f"removed-response-field {where} {field}", "field removed")
            continue
        yield from _answer_fields(
            where, field, old.resolve(old_field), new.resolve(new_props[name]), old, new, depth + 1
        )
    old_items, new_items = old_schema.get("items"), new_schema.get("items")
    if isinstance(old_items, dict) and isinstance(new_items, dict):
        yield from _answer_fields(
            where,
            f"{prefix}[]",
            old.resolve(old_items),
            new.resolve(new_items),
            old,
            new,
            depth + 1,
        )


def _parameters(
    where: str, old: Schema, old_op: Schema, new: Schema, new_op: Schema
) -> Iterator[BreakingChange]:
    old_resolver, new_resolver = _Resolver(old), _Resolver(new)
    old_params = {
        (p["in"], p["name"]): p for p in map(old_resolver.resolve, old_op.get("parameters", []))
    }
    for param in map(new_resolver.resolve, new_op.get("parameters", [])):
        key = (param["in"], param["name"])
        label = f"{param['in']}:{param['name']}"
        before = old_params.get(key)
        if param.get("required") and (before is None or not before.get("required")):
            yield BreakingChange(f"new-required-parameter {where} {label}", "now required")
        if before is not None:
            yield from _accepted_values(
                where,
                label,
                old_resolver.resolve(before.get("schema", {})),
                new_resolver.resolve(param.get("schema", {})),
                old_resolver,
                new_resolver,
                0,
            )


def _request_body(
    where: str, old: Schema, old_op: Schema, new: Schema, new_op: Schema
) -> Iterator[BreakingChange]:
    old_body, new_body = old_op.get("requestBody"), new_op.get("requestBody")
    if new_body is None:
        return
    if old_body is None:
        if new_body.get("required"):
            yield BreakingChange(f"new-required-body {where}", "a body is now required")
        return
    old_resolver, new_resolver = _Resolver(old), _Resolver(new)
    for media, new_content in new_body.get("content", {}).items():
        old_content = old_body.get("content", {}).get(media)
        if old_content is None:
            continue
        yield from _accepted_values(
            where,
            "body",
            old_resolver.resolve(old_content.get("schema", {})),
            new_resolver.resolve(new_content.get("schema", {})),
            old_resolver,
            new_resolver,
            0,
        )
    if not set(old_body.get("content", {})) & set(new_body.get("content", {})):
        yield BreakingChange(f"changed-request-content-type {where}", "old media types refused")


def _accepted_values(
    where: str,
    label: str,
    old_schema: Schema,
    new_schema: Schema,
    old: _Resolver,
    new: _Resolver,
    depth: int,
) -> Iterator[BreakingChange]:
    """What a client of the old request sends that the new one refuses: a type or enum
    value no longer accepted, a field that became required."""
    if depth > MAX_DEPTH:
        return
    old_type, new_type = _types(old, old_schema), _types(new, new_schema)
    if old_type and new_type and not old_type <= new_type:
        yield BreakingChange(
            f"changed-request-type {where} {label}",
            f"was {sorted(old_type)}, now {sorted(new_type)}",
        )
        return
    old_enum, new_enum = _enum(old, old_schema), _enum(new, new_schema)
    if old_enum is not None and new_enum is not None and not old_enum <= new_enum:
        yield BreakingChange(
            f"narrowed-enum {where} {label}", f"no longer accepts {sorted(old_enum - new_enum)}"
        )
    old_props, new_props = _properties(old, old_schema), _properties(new, new_schema)
    old_required = set(old_schema.get("required", []))
    for name in sorted(set(new_schema.get("required", [])) - old_required):
        yield BreakingChange(f"new-required-field {where} {label}.{name}", "now required")
    for name, new_field in new_props.items():
        if name in old_props:
            yield from _accepted_values(
                where,
                f"{label}.{name}",
                old.resolve(old_props[name]),
                new.resolve(new_field),
                old,
                new,
                depth + 1,
            )
    old_items, new_items = old_schema.get("items"), new_schema.get("items")
    if isinstance(old_items, dict) and isinstance(new_items, dict):
        yield from _accepted_values(
            where, f"{label}[]", old.resolve(old_items), new.resolve(new_items), old, new, depth + 1
        )


class _Resolver:
    """Follows local ``$ref``s of one document."""

    def __init__(self, document: Schema) -> None:
        self.document = document

    def resolve(self, schema: Schema) -> Schema:
        seen = 0
        while isinstance(schema, dict) and "$ref" in schema and seen < MAX_DEPTH:
            target: Any = self.document
            for part in schema["$ref"].lstrip("#/").split("/"):
                target = target.get(part, {})
            schema, seen = target, seen + 1
        return schema


def _variants(resolver: _Resolver, schema: Schema, depth: int = 0) -> list[Schema]:
    """The alternatives of a union, nested unions flattened (``null`` left out), else
    the schema itself."""
    options = schema.get("oneOf") or schema.get("anyOf")
    if not options or depth > MAX_DEPTH:
        return [schema]
    flat = [
        variant
        for option in options
        for variant in _variants(resolver, resolver.resolve(option), depth + 1)
        if variant.get("type") != "null"
    ]
    return flat or [schema]


def _properties(resolver: _Resolver, schema: Schema) -> dict[str, Schema]:
    """The fields every alternative of the schema has (all of them for a plain object)."""
    variants = _variants(resolver, schema)
    common: dict[str, Schema] | None = None
    for variant in variants:
        props: dict[str, Schema] = dict(variant.get("properties", {}))
        for part in variant.get("allOf", []):
            props.update(resolver.resolve(part).get("properties", {}))
        common = props if common is None else {k: v for k, v in common.items() if k in props}
    return common or {}


def _types(resolver: _Resolver, schema: Schema) -> set[str]:
    """The JSON types a schema allows; empty when it does not say (any value)."""
    found: set[str] = set()
    for variant in _variants(resolver, schema):
        kind = variant.get("type")
        if kind is None and "const" in variant:
            kind = _json_type(variant["const"])
        if kind is None and (variant.get("properties") or variant.get("allOf")):
            kind = "object"
        if kind is None:
            return set()
        found |= set(kind) if isinstance(kind, list) else {kind}
    if "integer" in found:
        found.add("number")
    return found - {"null"}


def _enum(resolver: _Resolver, schema: Schema) -> set[Any] | None:
    values: set[Any] = set()
    for variant in _variants(resolver, schema):
        if "enum" in variant:
            values |= set(map(str, variant["enum"]))
        elif "const" in variant:
            values.add(str(variant["const"]))
        else:
            return None
    return values


def _json_type(value: object) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return "string" if isinstance(value, str) else "object"
