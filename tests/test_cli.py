"""The `opsapi` command, run as a subprocess the way an operator runs it."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from backend.db import libpq_dsn
from backend.migrate import head_revision
from backend.openapi import document_text
from tests import database

ROOT = Path(__file__).resolve().parent.parent
LIST = "/api/v1/operations"


async def opsapi(
    database_url: str, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "OPSAPI_DATABASE_URL": database_url,
        "OPSAPI_LOG_LEVEL": "WARNING",
        "OPSAPI_LOG_FORMAT": "console",
        **(env or {}),
    }
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "backend.cli", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def opsapi_json(database_url: str, *args: str) -> Any:
    done = await opsapi(database_url, *args, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def test_a_key_created_on_the_command_line_works_until_it_is_revoked(
    client: httpx.AsyncClient, database_url: str
) -> None:
    tenant = await opsapi_json(database_url, "admin", "create-tenant", "acme")
    issued = await opsapi_json(
        database_url, "admin", "create-key", "--tenant", "acme", "--role", "member"
    )

    assert tenant["name"] == "acme"
    assert issued["tenant_id"] == tenant["tenant_id"]
    assert issued["role"] == "member"
    assert issued["key"].startswith("opsapi_")
    assert (await client.get(LIST, headers=bearer(issued["key"]))).status_code == 200

    keys = await opsapi_json(database_url, "admin", "list-keys", "--tenant", "acme")
    assert [k["key_id"] for k in keys] == [issued["key_id"]]
    assert keys[0]["revoked"] is False
    assert keys[0]["last_used_at"] is not None
    assert issued["key"] not in json.dumps(keys)

    revoked = await opsapi_json(database_url, "admin", "revoke-key", issued["key_id"])
    assert revoked == {"key_id": issued["key_id"], "revoked": True}
    assert (await client.get(LIST, headers=bearer(issued["key"]))).status_code == 401
    keys = await opsapi_json(database_url, "admin", "list-keys", "--tenant", "acme")
    assert keys[0]["revoked"] is True


async def test_a_key_can_be_revoked_by_its_listed_prefix(
    client: httpx.AsyncClient, database_url: str
) -> None:
    await opsapi_json(database_url, "admin", "create-tenant", "acme")
    issued = await opsapi_json(
        database_url, "admin", "create-key", "--tenant", "acme", "--role", "viewer"
    )
    [listed] = await opsapi_json(database_url, "admin", "list-keys")

    done = await opsapi(database_url, "admin", "revoke-key", listed["prefix"])

    assert done.returncode == 0, done.stderr
    assert listed["role"] == "viewer"
    assert (await client.get(LIST, headers=bearer(issued["key"]))).status_code == 401


async def test_creating_a_tenant_twice_fails_with_a_clear_message(database_url: str) -> None:
    await opsapi_json(database_url, "admin", "create-tenant", "acme")

    done = await opsapi(database_url, "admin", "create-tenant", "acme")

    assert done.returncode != 0
    assert "A tenant named 'acme' already exists" in done.stderr
    assert "Traceback" not in done.stderr


async def test_a_key_for_an_unknown_tenant_fails_with_a_clear_message(database_url: str) -> None:
    done = await opsapi(database_url, "admin", "create-key", "--tenant", "nobody")

    assert done.returncode != 0
    assert "No tenant is named 'nobody'" in done.stderr
    assert "create-tenant" in done.stderr
    assert "Traceback" not in done.stderr


async def test_revoking_an_unknown_key_fails_with_a_clear_message(database_url: str) -> None:
    done = await opsapi(database_url, "admin", "revoke-key", "opsapi_nothing")

    assert done.returncode != 0
    assert "No API key matches 'opsapi_nothing'" in done.stderr


@pytest.fixture
async def empty_database(server_url: str) -> AsyncIterator[str]:
    name = database.unique_name("opsapi_empty")
    url = await database.create_database(server_url, name)
    yield url
    await database.drop_database(server_url, name)


async def test_migrate_brings_an_empty_database_to_head(empty_database: str) -> None:
    done = await opsapi(empty_database, "migrate")

    assert done.returncode == 0, done.stderr
    conn = await asyncpg.connect(libpq_dsn(empty_database))
    try:
        revision = await conn.fetchval("SELECT version_num FROM alembic_version")
        tables = {r["tablename"] for r in await conn.fetch("SELECT tablename FROM pg_tables")}
    finally:
        await conn.close()
    assert revision == head_revision()
    assert {"tenants", "principals", "api_keys", "operations"} <= tables


async def test_migrate_twice_is_harmless(empty_database: str) -> None:
    assert (await opsapi(empty_database, "migrate")).returncode == 0

    done = await opsapi(empty_database, "migrate")

    assert done.returncode == 0, done.stderr


async def test_openapi_prints_the_apps_document_without_a_database(tmp_path: Path) -> None:
    from backend.main import documented_app

    unreachable = "postgresql://postgres@127.0.0.1:9/nowhere"
    output = tmp_path / "openapi.json"

    done = await opsapi(unreachable, "openapi", "--output", str(output))
    printed = await opsapi(unreachable, "openapi")

    assert done.returncode == 0, done.stderr
    expected = document_text(documented_app())
    assert output.read_text(encoding="utf-8") == expected
    assert printed.stdout == expected


async def test_submit_creates_an_operation_the_tenant_can_follow(
    client: httpx.AsyncClient, database_url: str
) -> None:
    await opsapi_json(database_url, "admin", "create-tenant", "acme")
    issued = await opsapi_json(database_url, "admin", "create-key", "--tenant", "acme")
    done = await opsapi(
        database_url,
        "admin",
        "submit",
        "--tenant",
        "acme",
        "--kind",
        "test.echo",
        "--params",
        '{"value": "from the shell"}',
        env={"OPSAPI_HANDLER_MODULES": '["tests.kinds"]'},
    )
    assert done.returncode == 0, done.stderr
    created = json.loads(done.stdout)
    assert created["status"] == "pending"
    assert created["url"].endswith(f"/api/v1/operations/{created['id']}")
    response = await client.get(f"{LIST}/{created['id']}", headers=bearer(issued["key"]))
    assert response.status_code == 200
    assert response.json()["kind"] == "test.echo"


@pytest.mark.parametrize(
    ("kind", "params", "message"),
    [
        ("test.nope", "{}", "No operation kind 'test.nope' is registered"),
        ("test.echo", "{not json", "--params is not valid JSON"),
        ("test.echo", '{"value": 5}', "--params does not fit kind 'test.echo'"),
    ],
)
async def test_submit_refuses_unknown_kinds_and_bad_params_and_creates_nothing(
    database_url: str, kind: str, params: str, message: str
) -> None:
    await opsapi_json(database_url, "admin", "create-tenant", "acme")
    done = await opsapi(
        database_url,
        "admin",
        "submit",
        "--tenant",
        "acme",
        "--kind",
        kind,
        "--params",
        params,
        env={"OPSAPI_HANDLER_MODULES": '["tests.kinds"]'},
    )
    assert done.returncode == 1
    assert message in done.stderr
    conn = await asyncpg.connect(libpq_dsn(database_url))
    try:
        assert await conn.fetchval("SELECT count(*) FROM operations") == 0
    finally:
        await conn.close()
