"""Every path parameter of every route, given a value that is not what it expects:
a 404 or 422 problem+json, never a 500. The routes are read from the app itself, so a
new route is covered the day it is added."""

from __future__ import annotations

import re

import httpx
import pytest
from fastapi import FastAPI

from backend.auth.models import Role
from tests.conftest import KeyFactory

# Values a client (or an attacker) may put where an id is expected.
NOT_IDS = [
    "not-a-uuid",
    "0",
    "-1",
    "00000000-0000-0000-0000-00000000000g",
    "00000000000000000000000000000000000000",
    "%00",
    "%2e%2e",
    "' OR 1=1 --",
    "%F0%9F%98%80",
    "%C0%AF",
    "9" * 400,
    "a" * 5000,
]

PARAMETER = re.compile(r"{([^}:]+)(?::[^}]+)?}")


def api_routes(app: FastAPI) -> list[tuple[str, str]]:
    """(method, path template) of every route with a path parameter, as the app
    documents them."""
    return [
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        if PARAMETER.search(path)
        for method in operations
    ]


def fill(path: str, value: str) -> str:
    return PARAMETER.sub(value, path)


async def test_the_app_has_routes_with_path_parameters(app: FastAPI) -> None:
    # Guards the test below against silently covering nothing.
    assert len(api_routes(app)) > 30


@pytest.mark.parametrize("value", NOT_IDS)
async def test_a_malformed_path_parameter_is_a_problem_never_a_500(
    app: FastAPI, client: httpx.AsyncClient, make_caller: KeyFactory, value: str
) -> None:
    # An admin, so that no route answers 403 before it looks at the path.
    caller = await make_caller(role=Role.admin)
    failures = []
    for method, path in api_routes(app):
        response = await client.request(method, fill(path, value), headers=caller.headers, json={})
        if response.status_code not in (400, 404, 405, 422) or not response.headers.get(
            "content-type", ""
        ).startswith("application/problem+json"):
            failures.append((method, path, response.status_code, response.text[:300]))
    assert failures == []
