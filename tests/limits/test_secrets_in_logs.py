"""No secret reaches the logs: API keys (right or wrong), reviewer tokens (which are
in the path of the reviewer's link) and webhook signing secrets, whatever the request
did. Everything logged while real requests run is captured and searched."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import httpx
import pytest
import structlog

from backend.config import Settings
from backend.logs import configure_logging
from tests.conftest import ApiCaller
from tests.features.reviews.cycles import create_cycle, invite, review

WRONG_KEY = "opsapi_ThisIsNotAKeyButLooksLikeOne0123456789abcdef"
WRONG_TOKEN = "NotAnInvitationToken_abcdefghijklmnopqrstuvwxyz"


@pytest.fixture
def log_output(settings: Settings) -> Iterator[io.StringIO]:
    """Everything logged (DEBUG and up, as JSON) while the test runs."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level, structlog.get_config()
    configure_logging(settings.model_copy(update={"log_level": "DEBUG", "log_format": "json"}))
    output = io.StringIO()
    handler = root.handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(output)
    try:
        yield output
    finally:
        root.handlers[:], level, config = saved
        root.setLevel(level)
        structlog.configure(**config)


async def test_keys_tokens_and_webhook_secrets_stay_out_of_the_logs(
    client: httpx.AsyncClient, admin: ApiCaller, log_output: io.StringIO
) -> None:
    cycle = await create_cycle(client, admin)
    token = (await invite(client, admin, cycle["id"]))["token"]
    opened = await client.get(f"/api/v1/reviews/{token}")
    submitted = await client.post(f"/api/v1/reviews/{token}", json=review())
    again = await client.post(f"/api/v1/reviews/{token}", json=review())
    invalid = await client.post(f"/api/v1/reviews/{token}", json={"ratings": "\x00"})
    wrong_link = await client.get(f"/api/v1/reviews/{WRONG_TOKEN}")
    created = await client.post(
        "/api/v1/webhook-endpoints",
        json={"url": "https://hooks.example.com/opsapi"},
        headers={**admin.headers, "Idempotency-Key": "webhook-1"},
    )
    rotated = await client.post(
        f"/api/v1/webhook-endpoints/{created.json()['id']}/rotate-secret", headers=admin.headers
    )
    wrong_key = await client.get(
        "/api/v1/operations", headers={"Authorization": f"Bearer {WRONG_KEY}"}
    )
    malformed = await client.get("/api/v1/operations", headers={"Authorization": WRONG_KEY})

    assert (opened.status_code, submitted.status_code, again.status_code) == (200, 201, 409)
    assert (invalid.status_code, wrong_link.status_code) == (422, 404)
    assert (created.status_code, rotated.status_code) == (201, 200)
    assert (wrong_key.status_code, malformed.status_code) == (401, 401)
    logged = log_output.getvalue()
    # The requests were logged, the reviewer's among them, by route.
    assert '"path": "/api/v1/reviews/{token}"' in logged
    assert '"status": 401' in logged
    secrets = {
        "API key": admin.key,
        "wrong API key": WRONG_KEY,
        "reviewer token": token,
        "wrong reviewer token": WRONG_TOKEN,
        "webhook secret": created.json()["secret"],
        "rotated webhook secret": rotated.json()["secret"],
    }
    leaked = [name for name, secret in secrets.items() if secret in logged]
    assert leaked == []
