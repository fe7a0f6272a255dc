"""Uploads: type by content, size and quota limits, duplicates, deletion, tenants."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.config import Settings
from backend.features.documents.models import Document, DocumentText
from backend.features.documents.upload import sniff
from backend.main import create_app
from backend.operations.models import Operation
from backend.operations.registry import Registry
from tests.conftest import ApiCaller, KeyFactory
from tests.factories import running_worker
from tests.features.documents.conftest import (
    document,
    document_settings,
    events,
    stored_files,
    upload,
    uploaded,
)
from tests.features.documents.files import REPORT_PAGES, pdf_with_text, text_image

Sessions = async_sessionmaker[AsyncSession]


async def counts(sessionmaker: Sessions) -> tuple[int, int]:
    async with sessionmaker() as db:
        documents = await db.scalar(select(func.count()).select_from(Document))
        operations = await db.scalar(select(func.count()).select_from(Operation))
    return documents or 0, operations or 0


def test_the_type_is_told_by_the_content_not_the_name() -> None:
    assert sniff(pdf_with_text(["x"])[:4096], "notes.txt") == "application/pdf"
    assert sniff(text_image()[:4096], "report.pdf") == "image/png"
    assert sniff(b"# Title\n\nSome text.", "notes.md") == "text/markdown"
    assert sniff("Grüße aus Köln.".encode(), "a.pdf") == "text/plain"
    assert sniff(b"MZ\x90\x00\x03\x00\x00\x00", "report.pdf") is None
    assert sniff(b"<!DOCTYPE html><script>alert(1)</script>", "a.txt") is None
    assert sniff(b"\xff\xfe\x00\x00binary", "a.txt") is None


@pytest.fixture
async def small_app(database_url: str, storage: Path, registry: Registry) -> httpx.AsyncClient:  # type: ignore[misc]
    settings = document_settings(
        database_url, storage, max_upload_bytes=2000, monthly_upload_quota=2
    )
    app: FastAPI = create_app(
        settings, registry=registry, database_url=database_url, configure_logs=False
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


async def test_unsupported_oversized_and_malformed_uploads_are_refused_and_store_nothing(
    small_app: httpx.AsyncClient, caller: ApiCaller, sessionmaker: Sessions, storage: Path
) -> None:
    client = small_app
    program = await upload(
        client, caller, b"MZ\x90\x00" + b"\x00" * 100, "x.pdf", "application/pdf"
    )
    html = await upload(client, caller, b"<html><body>hi</body></html>", "a.txt", "text/plain")
    streamed_big = await client.post(
        "/api/v1/documents",
        content=_chunks(
            b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.txt"'
            b"\r\n\r\n" + b"a" * 30_000 + b"\r\n--b--\r\n"
        ),
        headers={**caller.headers, "Content-Type": "multipart/form-data; boundary=b"},
    )
    announced_big = await upload(client, caller, b"a" * 50_000, "big.txt")
    no_file = await client.post(
        "/api/v1/documents",
        files={"other": ("a.txt", b"hello", "text/plain")},
        headers=caller.headers,
    )
    not_multipart = await client.post(
        "/api/v1/documents",
        content=b"hello",
        headers={**caller.headers, "Content-Type": "text/plain"},
    )

    assert (program.status_code, program.json()["code"]) == (415, "UNSUPPORTED_MEDIA_TYPE")
    assert (html.status_code, html.json()["code"]) == (415, "UNSUPPORTED_MEDIA_TYPE")
    assert program.headers["content-type"] == "application/problem+json"
    assert (streamed_big.status_code, streamed_big.json()["code"]) == (413, "UPLOAD_TOO_LARGE")
    assert (announced_big.status_code, announced_big.json()["code"]) == (413, "UPLOAD_TOO_LARGE")
    assert (no_file.status_code, no_file.json()["code"]) == (400, "INVALID_UPLOAD")
    assert (not_multipart.status_code, not_multipart.json()["code"]) == (400, "INVALID_UPLOAD")
    assert await counts(sessionmaker) == (0, 0)
    assert stored_files(storage) == []
    assert staged_files(storage) == []


def staged_files(storage: Path) -> list[Path]:
    """Staging files left behind in the storage folder."""
    return list((storage / ".incoming").glob("*"))


async def _chunks_gen(data: bytes):  # type: ignore[no-untyped-def]
    for start in range(0, len(data), 1000):
        yield data[start : start + 1000]


def _chunks(data: bytes):  # type: ignore[no-untyped-def]
    return _chunks_gen(data)


async def test_over_the_monthly_quota_an_upload_is_429_with_when_it_resets(
    small_app: httpx.AsyncClient,
    caller: ApiCaller,
    make_caller: KeyFactory,
    sessionmaker: Sessions,
) -> None:
    for name in ("a.txt", "b.txt"):
        assert (await upload(small_app, caller, b"Some notes.", name)).status_code == 202

    refused = await upload(small_app, caller, b"More notes.", "c.txt")
    other_tenant = await upload(small_app, await make_caller(), b"Their notes.", "d.txt")

    assert refused.status_code == 429
    problem = refused.json()
    assert problem["code"] == "QUOTA_EXCEEDED"
    assert problem["quota"] == 2
    assert problem["resets_at"].endswith("-01T00:00:00+00:00")
    assert int(refused.headers["retry-after"]) > 0
    assert other_tenant.status_code == 202
    assert await counts(sessionmaker) == (3, 3)


async def test_identical_bytes_uploaded_again_reuse_the_extracted_text(
    client: httpx.AsyncClient,
    caller: ApiCaller,
    database_url: str,
    registry: Registry,
    settings: Settings,
) -> None:
    data = pdf_with_text(REPORT_PAGES)
    first = await uploaded(client, caller, data, "report.pdf")
    async with running_worker(database_url, registry, settings):
        await events(client, caller, first["id"])
        second = await uploaded(client, caller, data, "copy of report.pdf")
        stream = await events(client, caller, second["id"])

    assert second["sha256"] == first["sha256"] and second["id"] != first["id"]
    reused = await document(client, caller, second["id"])
    assert reused["status"] == "ready"
    assert reused["reused_from"] == first["id"]
    assert (reused["page_count"], reused["text_length"]) == (3, first_len := reused["text_length"])
    assert first_len == (await document(client, caller, first["id"]))["text_length"]
    extraction = [d for _, kind, d in stream if d.get("kind") == "document.extract"]
    assert not [
        d for d in extraction if (d.get("progress") or {}).get("message", "").startswith("Page")
    ]
    assert extraction[-1]["result"]["reused_from"] == first["id"]


async def test_delete_removes_the_document_its_text_and_its_file(
    client: httpx.AsyncClient,
    caller: ApiCaller,
    database_url: str,
    registry: Registry,
    settings: Settings,
    sessionmaker: Sessions,
    storage: Path,
) -> None:
    accepted = await uploaded(client, caller, pdf_with_text(REPORT_PAGES))
    async with running_worker(database_url, registry, settings):
        await events(client, caller, accepted["id"])
    assert len(stored_files(storage)) == 1

    deleted = await client.delete(f"/api/v1/documents/{accepted['id']}", headers=caller.headers)

    assert deleted.status_code == 204
    gone = await client.get(f"/api/v1/documents/{accepted['id']}", headers=caller.headers)
    assert (gone.status_code, gone.json()["code"]) == (404, "DOCUMENT_NOT_FOUND")
    assert stored_files(storage) == []
    async with sessionmaker() as db:
        assert await db.scalar(select(func.count()).select_from(DocumentText)) == 0


async def test_deleting_a_pending_document_cancels_its_extraction(
    client: httpx.AsyncClient, caller: ApiCaller, storage: Path
) -> None:
    accepted = await uploaded(client, caller, b"Plain notes to read later.", "n.txt")

    assert (
        await client.delete(f"/api/v1/documents/{accepted['id']}", headers=caller.headers)
    ).status_code == 204

    op = await client.get(
        f"/api/v1/operations/{accepted['operation']['id']}", headers=caller.headers
    )
    assert op.json()["status"] == "cancelled"
    assert stored_files(storage) == []


async def test_another_tenants_document_is_not_found(
    client: httpx.AsyncClient, caller: ApiCaller, make_caller: KeyFactory
) -> None:
    accepted = await uploaded(client, caller, b"Private notes.", "n.txt")
    stranger = await make_caller()

    for method, suffix in (
        ("GET", ""),
        ("GET", "/text"),
        ("GET", "/file"),
        ("GET", "/events"),
        ("POST", "/extract"),
        ("POST", "/metadata"),
        ("DELETE", ""),
    ):
        response = await client.request(
            method, f"/api/v1/documents/{accepted['id']}{suffix}", headers=stranger.headers
        )
        assert response.status_code == 404, (method, suffix)
        assert response.json()["code"] == "DOCUMENT_NOT_FOUND"
