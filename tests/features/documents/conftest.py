"""Fixtures of the document tests: files stored in a folder of the test's own, uploads
through the API, and reading a document's event stream."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from backend.config import Settings
from tests.conftest import ApiCaller, test_settings
from tests.features.conftest import FEEDBACK

Json = dict[str, Any]
Event = tuple[str, str, Json]  # (id, type, data)


def document_settings(database_url: str, storage: Path, **documents: Any) -> Settings:
    return test_settings(
        database_url,
        feedback=FEEDBACK,
        documents={"storage_path": str(storage), "fsync": False, **documents},
    )


@pytest.fixture
def storage(tmp_path: Path) -> Path:
    return tmp_path / "documents"


@pytest.fixture
def settings(database_url: str, storage: Path) -> Settings:
    return document_settings(database_url, storage)


async def upload(
    client: httpx.AsyncClient,
    caller: ApiCaller,
    data: bytes,
    filename: str = "report.pdf",
    content_type: str = "application/octet-stream",
) -> httpx.Response:
    return await client.post(
        "/api/v1/documents",
        files={"file": (filename, data, content_type)},
        headers=caller.headers,
    )


async def uploaded(
    client: httpx.AsyncClient, caller: ApiCaller, data: bytes, filename: str = "report.pdf"
) -> Json:
    response = await upload(client, caller, data, filename)
    assert response.status_code == 202, response.text
    body: Json = response.json()
    return body


async def events(
    client: httpx.AsyncClient, caller: ApiCaller, document_id: str, last_event_id: str | None = None
) -> list[Event]:
    """The document's event stream, read until it ends."""
    headers = dict(caller.headers)
    if last_event_id is not None:
        headers["Last-Event-ID"] = last_event_id
    response = await client.get(
        f"/api/v1/documents/{document_id}/events", headers=headers, timeout=60
    )
    assert response.status_code == 200, response.text
    found: list[Event] = []
    current: dict[str, str] = {}
    for line in response.text.splitlines():
        if not line:
            if "data" in current:
                found.append(
                    (current.get("id", ""), current.get("event", ""), json.loads(current["data"]))
                )
            current = {}
        elif not line.startswith(":") and ":" in line:
            field, _, value = line.partition(":")
            current[field] = value.strip()
    return found


async def document(client: httpx.AsyncClient, caller: ApiCaller, document_id: str) -> Json:
    response = await client.get(f"/api/v1/documents/{document_id}", headers=caller.headers)
    assert response.status_code == 200, response.text
    body: Json = response.json()
    return body


def stored_files(storage: Path) -> list[Path]:
    """Files published under the storage folder (staging files left out)."""
    if not storage.exists():
        return []
    return sorted(p for p in storage.rglob("*") if p.is_file() and ".incoming" not in p.parts)
