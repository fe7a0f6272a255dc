"""/healthz and /readyz: liveness, and readiness = database reachable and at head."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from backend.migrate import head_revision


async def test_healthz_answers_200_without_a_key(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")

    assert response.status_code == 200
    assert response.json()["status"] == "ok"


async def test_readyz_answers_200_when_the_database_is_migrated(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/readyz")

    assert response.status_code == 200
    assert response.json()["status"] == "ok"


async def test_readyz_answers_503_when_the_schema_is_not_at_head(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE alembic_version SET version_num = 'older'"))

    response = await client.get("/readyz")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert "older" in body["detail"]
    assert str(head_revision()) in body["detail"]
    assert "migrate" in body["detail"]


async def test_readyz_answers_503_when_the_database_was_never_migrated(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    async with engine.begin() as conn:
        await conn.execute(text("DROP TABLE alembic_version"))

    response = await client.get("/readyz")

    assert response.status_code == 503
    assert "opsapi migrate" in response.json()["detail"]


@pytest.mark.usefixtures("unreachable_database")
async def test_readyz_answers_503_when_the_database_is_unreachable(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/readyz")

    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "detail": "database unreachable"}


@pytest.mark.usefixtures("unreachable_database")
async def test_healthz_does_not_depend_on_the_database(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).status_code == 200
