"""Every route × every kind of caller answers exactly what tests/authorization/table.py
says, every route of the app has a row there, and docs/authorization.md shows that
same table."""

from __future__ import annotations

import pytest
from fastapi.routing import iter_route_contexts

from backend.config import Settings
from backend.main import create_app
from tests.authorization.calls import CALLS, url
from tests.authorization.table import DOC, TABLE, Credential, Row, documented, render
from tests.authorization.world import World, footprint

CELLS = [
    pytest.param(row, who, id=f"{row.method} {row.path} | {who}")
    for row in TABLE
    for who in row.family
]


def app_routes() -> set[tuple[str, str]]:
    """(method, path) of every route the app serves, documentation pages included."""
    app = create_app(
        Settings.model_validate({"database_url": "postgresql://unused@127.0.0.1/unused"}),
        configure_logs=False,
    )
    found: set[tuple[str, str]] = set()
    for route in iter_route_contexts(app.routes):
        path = route.path
        assert path is not None, route
        found |= {(method, path) for method in route.methods or () if method != "HEAD"}
    return found


def test_every_route_of_the_app_has_a_row_and_every_row_a_route() -> None:
    rows = {row.route for row in TABLE}
    routes = app_routes()

    assert routes - rows == set(), "routes missing from tests/authorization/table.py"
    assert rows - routes == set(), "rows of tests/authorization/table.py the app does not serve"
    assert len(rows) == len(TABLE), "a route has two rows"


def test_every_row_knows_how_to_call_its_route() -> None:
    assert set(CALLS) == {row.route for row in TABLE}


def test_the_documented_matrix_is_the_tested_one() -> None:
    assert documented(DOC.read_text()) == render(), (
        "docs/authorization.md is out of date: run `python -m tests.authorization.table`"
    )


@pytest.mark.parametrize(("row", "who"), CELLS)
async def test_each_caller_gets_the_documented_answer(
    world: World, row: Row, who: Credential
) -> None:
    call = await CALLS[row.route](world, who)
    expected = row.outcomes[who]
    before = await footprint(world.sessionmaker) if expected.status >= 400 else None

    response = await world.client.request(
        row.method,
        url(world, who, row.path, call),
        headers=world.headers(who),
        json=call.json,
        files=call.files,
    )

    assert response.status_code == expected.status, response.text
    if expected.code is not None:
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == expected.code
    if expected.status == 401:
        assert response.headers["www-authenticate"] == "Bearer"
    if call.check is not None and response.is_success:
        call.check(world, who, response)
    if before is not None:
        assert await footprint(world.sessionmaker) == before, "a refused request changed rows"
