"""Against ``opsapi serve`` itself (uvicorn, as operators run it): headers over the
server's limit, which client address failures are counted under behind a proxy, and
what the process logs."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx

from backend.auth.models import Role
from tests.conftest import KeyFactory
from tests.factories import PROJECT_ROOT, ApiServer, free_port, worker_env
from tests.features.reviews.cycles import create_cycle, invite, review

WRONG_KEY = "opsapi_NotAKeyOfThisServer_0123456789abcdefghijklmnop"


@contextlib.asynccontextmanager
async def opsapi_serve(database_url: str, storage: Path, **env: str) -> AsyncIterator[ApiServer]:
    """``opsapi serve --no-worker`` on a free loopback port, logging at INFO."""
    port = free_port()
    environment = worker_env(database_url)
    environment.update(
        {
            "OPSAPI_ENVIRONMENT": "production",
            "OPSAPI_LOG_FORMAT": "json",
            "OPSAPI_DOCUMENTS__STORAGE_PATH": str(storage),
            **env,
        }
    )
    process = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).with_name("opsapi")),
        "serve",
        "--no-worker",
        "--port",
        str(port),
        cwd=PROJECT_ROOT,
        env=environment,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    server = ApiServer(process, f"http://127.0.0.1:{port}")
    try:
        await server.log.wait_for_log("Uvicorn running", timeout=60)
        yield server
    finally:
        await server.stop()


async def test_headers_over_the_limit_are_431_problems_from_the_real_server(
    database_url: str, storage: Path, make_caller: KeyFactory
) -> None:
    caller = await make_caller()
    async with (
        opsapi_serve(database_url, storage) as server,
        httpx.AsyncClient(base_url=server.url) as client,
    ):
        answers = []
        for size in (100_000, 1_000_000):
            response = await client.get(
                "/api/v1/operations", headers={**caller.headers, "X-Padding": "p" * size}
            )
            answers.append((response.status_code, response.headers["content-type"]))
        big_key = await client.get(
            "/api/v1/operations", headers={"Authorization": "Bearer " + "k" * 50_000}
        )
        fine = await client.get("/api/v1/operations", headers=caller.headers)

    assert answers == [(431, "application/problem+json")] * 2
    assert big_key.status_code == 431
    assert fine.status_code == 200
    assert "Traceback" not in server.log.log


async def wrong_keys(server: ApiServer, forwarded_for: list[str]) -> list[int]:
    """Statuses of one wrong key per X-Forwarded-For address, sent from 127.0.0.1."""
    async with httpx.AsyncClient(base_url=server.url) as client:
        return [
            (
                await client.get(
                    "/api/v1/operations",
                    headers={
                        "Authorization": f"Bearer {WRONG_KEY}{n}",
                        "X-Forwarded-For": address,
                    },
                )
            ).status_code
            for n, address in enumerate(forwarded_for)
        ]


CLIENTS = ["203.0.113.1", "203.0.113.2", "203.0.113.3", "203.0.113.4"]


async def test_x_forwarded_for_names_the_client_only_behind_a_trusted_proxy(
    database_url: str, storage: Path
) -> None:
    limit = {"OPSAPI_AUTH__MAX_FAILURES": "2"}
    # The test client (127.0.0.1) is not a trusted proxy: its forwarded addresses are
    # ignored and every failure counts against 127.0.0.1.
    async with opsapi_serve(
        database_url, storage, OPSAPI_FORWARDED_ALLOW_IPS="192.0.2.254", **limit
    ) as untrusted:
        spoofing = await wrong_keys(untrusted, CLIENTS)
    # Trusted (uvicorn's default: the loopback proxy): each forwarded client has its own
    # count.
    async with opsapi_serve(database_url, storage, **limit) as trusted:
        proxied = await wrong_keys(trusted, [f"198.51.100.{n}" for n in range(1, 5)])

    assert spoofing == [401, 401, 429, 429]
    assert proxied == [401, 401, 401, 401]


async def test_the_served_process_logs_no_key_token_or_secret(
    database_url: str, storage: Path, make_caller: KeyFactory
) -> None:
    admin = await make_caller(role=Role.admin)
    async with (
        opsapi_serve(database_url, storage) as server,
        httpx.AsyncClient(base_url=server.url) as client,
    ):
        cycle = await create_cycle(client, admin)
        token = (await invite(client, admin, cycle["id"]))["token"]
        await client.get(f"/api/v1/reviews/{token}")
        await client.post(f"/api/v1/reviews/{token}", json=review())
        created = await client.post(
            "/api/v1/webhook-endpoints",
            json={"url": "https://hooks.example.com/opsapi"},
            headers=admin.headers,
        )
        await client.get("/api/v1/operations", headers={"Authorization": f"Bearer {WRONG_KEY}"})
    logged = server.log.log

    assert "/api/v1/reviews/{token}" in logged
    assert created.status_code == 201
    for secret in (admin.key, WRONG_KEY, token, created.json()["secret"]):
        assert secret not in logged
