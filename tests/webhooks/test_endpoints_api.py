"""/api/v1/webhook-endpoints: create, list, read, delete, rotate; URL rules (SSRF)."""

from __future__ import annotations

import asyncio
import ipaddress
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.auth.models import Role
from backend.config import Settings
from backend.operations.delivery_models import WebhookEndpoint
from backend.operations.webhook_targets import (
    InvalidWebhookUrl,
    TargetPolicy,
    TargetRefused,
    check_url,
    resolve,
)
from tests.conftest import ApiCaller, KeyFactory
from tests.conftest import test_settings as settings_for
from tests.factories import api_server

Sessions = async_sessionmaker[AsyncSession]
ENDPOINTS = "/api/v1/webhook-endpoints"
HOOK = "https://hooks.example.com/opsapi"


async def create(
    client: httpx.AsyncClient, caller: ApiCaller, url: str = HOOK, **body: Any
) -> httpx.Response:
    return await client.post(ENDPOINTS, json={"url": url, **body}, headers=caller.headers)


async def test_creating_an_endpoint_shows_its_secret_once(
    client: httpx.AsyncClient, admin: ApiCaller
) -> None:
    created = await create(client, admin, description="CRM")
    endpoint_id = created.json()["id"]
    listed = await client.get(ENDPOINTS, headers=admin.headers)
    shown = await client.get(f"{ENDPOINTS}/{endpoint_id}", headers=admin.headers)

    assert created.status_code == 201
    assert created.headers["Location"].endswith(f"{ENDPOINTS}/{endpoint_id}")
    assert created.json()["secret"].startswith("whsec_")
    assert created.json()["enabled"] is True
    assert sorted(created.json()["event_types"]) == [
        "operation.cancelled",
        "operation.completed",
        "operation.failed",
    ]
    assert [e["id"] for e in listed.json()["endpoints"]] == [endpoint_id]
    assert "secret" not in listed.json()["endpoints"][0]
    assert "secret" not in shown.json()
    assert shown.json()["description"] == "CRM"


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://hooks.example.com/x", "https"),
        ("ftp://hooks.example.com/x", "https"),
        ("https://user:pw@hooks.example.com/x", "credentials"),
        ("https://10.1.2.3/x", "private"),
        ("https://169.254.169.254/latest/meta-data", "private"),
        ("https://[::ffff:192.168.0.1]/x", "private"),
        ("not a url", "https"),
    ],
)
async def test_a_url_that_is_not_allowed_is_422_and_creates_nothing(
    client: httpx.AsyncClient, admin: ApiCaller, sessionmaker: Sessions, url: str, why: str
) -> None:
    response = await create(client, admin, url)

    assert response.status_code == 422
    assert response.json()["code"] == "INVALID_WEBHOOK_URL"
    assert why in response.json()["detail"]
    async with sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(WebhookEndpoint)) == 0


async def test_an_unknown_event_type_is_422(client: httpx.AsyncClient, admin: ApiCaller) -> None:
    response = await create(client, admin, event_types=["operation.exploded"])

    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"][:2] == ["body", "event_types"]


async def test_loopback_http_is_allowed_in_development_only(database_url: str) -> None:
    development = TargetPolicy.from_settings(settings_for(database_url))
    production = TargetPolicy.from_settings(settings_for(database_url, environment="production"))

    assert check_url("http://127.0.0.1:9000/hook", development).port == 9000
    with pytest.raises(InvalidWebhookUrl):
        check_url("http://127.0.0.1:9000/hook", production)
    with pytest.raises(InvalidWebhookUrl):
        check_url("https://127.0.0.1:9000/hook", production)


async def test_a_host_name_resolving_to_a_refused_address_is_refused_at_delivery(
    database_url: str,
) -> None:
    production = TargetPolicy.from_settings(settings_for(database_url, environment="production"))
    allowed = TargetPolicy.from_settings(
        settings_for(
            database_url, environment="production", webhooks={"allowed_networks": ["127.0.0.0/8"]}
        )
    )
    url = check_url("https://localhost:9/hook", production)

    with pytest.raises(TargetRefused):
        await resolve(url, production)
    assert (await resolve(httpx.URL("https://127.0.0.1:9/"), allowed)).is_loopback
    assert production.allows(ipaddress.ip_address("93.184.216.34"))
    assert not production.allows(ipaddress.ip_address("100.64.0.1"))


async def test_changing_endpoints_takes_an_admin_key_and_reading_any_key(
    client: httpx.AsyncClient, admin: ApiCaller, make_caller: KeyFactory
) -> None:
    member = await make_caller(tenant=await _tenant_name(admin, client), role=Role.member)
    endpoint_id = (await create(client, admin)).json()["id"]

    refused = await create(client, member)
    rotate = await client.post(f"{ENDPOINTS}/{endpoint_id}/rotate-secret", headers=member.headers)
    delete = await client.delete(f"{ENDPOINTS}/{endpoint_id}", headers=member.headers)
    listed = await client.get(ENDPOINTS, headers=member.headers)

    assert [r.status_code for r in (refused, rotate, delete)] == [403, 403, 403]
    assert refused.json()["code"] == "ADMIN_REQUIRED"
    assert [e["id"] for e in listed.json()["endpoints"]] == [endpoint_id]


async def _tenant_name(caller: ApiCaller, client: httpx.AsyncClient) -> str:
    from backend.auth.models import Tenant

    app = client._transport.app  # type: ignore[attr-defined]
    async with app.state.sessionmaker() as session:
        name: str = await session.scalar(select(Tenant.name).where(Tenant.id == caller.tenant_id))
    return name


async def test_another_tenants_endpoint_is_404(
    client: httpx.AsyncClient, admin: ApiCaller, make_caller: KeyFactory
) -> None:
    other = await make_caller(role=Role.admin)
    endpoint_id = (await create(client, admin)).json()["id"]

    for method, suffix in [("GET", ""), ("DELETE", ""), ("GET", "/deliveries")]:
        response = await client.request(
            method, f"{ENDPOINTS}/{endpoint_id}{suffix}", headers=other.headers
        )
        assert response.status_code == 404
        assert response.json()["code"] == "WEBHOOK_ENDPOINT_NOT_FOUND"


async def test_a_deleted_endpoint_is_gone(client: httpx.AsyncClient, admin: ApiCaller) -> None:
    endpoint_id = (await create(client, admin)).json()["id"]

    deleted = await client.delete(f"{ENDPOINTS}/{endpoint_id}", headers=admin.headers)
    again = await client.get(f"{ENDPOINTS}/{endpoint_id}", headers=admin.headers)

    assert deleted.status_code == 204
    assert again.status_code == 404


async def test_a_tenant_has_at_most_the_configured_number_of_endpoints(
    database_url: str, admin: ApiCaller
) -> None:
    from backend.main import create_app

    limited: Settings = settings_for(database_url, webhooks={"max_endpoints_per_tenant": 2})
    app = create_app(limited, database_url=database_url, configure_logs=False)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver"
        ) as client,
    ):
        answers = [await create(client, admin) for _ in range(3)]

    assert [a.status_code for a in answers] == [201, 201, 409]
    assert answers[2].json()["code"] == "WEBHOOK_ENDPOINT_LIMIT"


async def test_fifty_creations_with_one_key_across_two_api_processes_make_one_endpoint(
    database_url: str, admin: ApiCaller, sessionmaker: Sessions
) -> None:
    headers = {**admin.headers, "Idempotency-Key": "one-endpoint"}
    async with (
        api_server(database_url) as first,
        api_server(database_url) as second,
        httpx.AsyncClient(timeout=30) as http,
    ):
        answers = await asyncio.gather(
            *(
                http.post(f"{server.url}{ENDPOINTS}", json={"url": HOOK}, headers=headers)
                for server in [first, second] * 25
            )
        )

    created = [a for a in answers if a.status_code == 201]
    assert {a.status_code for a in answers} <= {201, 409}
    assert len({a.json()["id"] for a in created}) == 1
    assert len({a.json()["secret"] for a in created}) == 1
    async with sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(WebhookEndpoint)) == 1


async def test_an_admin_changes_an_endpoint_and_omitted_fields_keep_their_value(
    client: httpx.AsyncClient, admin: ApiCaller
) -> None:
    endpoint_id = (await create(client, admin, description="CRM")).json()["id"]

    changed = await client.patch(
        f"{ENDPOINTS}/{endpoint_id}",
        json={"url": "https://hooks.example.com/v2", "event_types": ["operation.failed"]},
        headers=admin.headers,
    )
    paused = await client.patch(
        f"{ENDPOINTS}/{endpoint_id}", json={"enabled": False}, headers=admin.headers
    )

    assert changed.status_code == 200
    assert changed.json()["url"] == "https://hooks.example.com/v2"
    assert changed.json()["event_types"] == ["operation.failed"]
    assert changed.json()["description"] == "CRM"
    assert paused.json()["enabled"] is False
    assert paused.json()["url"] == "https://hooks.example.com/v2"


async def test_changing_an_endpoint_checks_the_url_the_role_and_the_tenant(
    client: httpx.AsyncClient, admin: ApiCaller, make_caller: KeyFactory
) -> None:
    member = await make_caller(tenant=await _tenant_name(admin, client), role=Role.member)
    other = await make_caller(role=Role.admin)
    endpoint_id = (await create(client, admin)).json()["id"]
    path = f"{ENDPOINTS}/{endpoint_id}"

    private = await client.patch(path, json={"url": "https://10.1.2.3/x"}, headers=admin.headers)
    by_member = await client.patch(path, json={"enabled": True}, headers=member.headers)
    by_other = await client.patch(path, json={"enabled": True}, headers=other.headers)
    shown = await client.get(path, headers=admin.headers)

    assert (private.status_code, private.json()["code"]) == (422, "INVALID_WEBHOOK_URL")
    assert (by_member.status_code, by_member.json()["code"]) == (403, "ADMIN_REQUIRED")
    assert (by_other.status_code, by_other.json()["code"]) == (404, "WEBHOOK_ENDPOINT_NOT_FOUND")
    assert shown.json()["url"] == HOOK
