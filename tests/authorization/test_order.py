"""Credentials, then the role, then the request: a caller who may not call a route
learns nothing from it about the request it sent."""

from __future__ import annotations

from tests.authorization.table import Credential
from tests.authorization.world import World


async def test_no_key_is_401_even_with_a_malformed_path_and_body(world: World) -> None:
    response = await world.client.post("/api/v1/cycles/not-a-uuid/reviewers", json={"x": 1})

    assert (response.status_code, response.json()["code"]) == (401, "NOT_AUTHENTICATED")


async def test_a_read_only_key_is_403_even_with_a_malformed_body(world: World) -> None:
    response = await world.client.post(
        "/api/v1/cycles", json={"title": 7}, headers=world.headers(Credential.viewer)
    )

    assert (response.status_code, response.json()["code"]) == (403, "READ_ONLY_CALLER")


async def test_an_admin_only_route_is_403_for_a_member_even_with_a_malformed_body(
    world: World,
) -> None:
    response = await world.client.post(
        "/api/v1/people", json={"name": ""}, headers=world.headers(Credential.member)
    )

    assert (response.status_code, response.json()["code"]) == (403, "ADMIN_REQUIRED")
