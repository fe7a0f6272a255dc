"""When a step fails: a damaged PDF, OCR not installed; retrying either step; and
what a retry may not do."""

from __future__ import annotations

from pathlib import Path

import httpx

from backend.config import Settings
from backend.features import build_registry
from backend.operations.registry import Registry
from tests.conftest import ApiCaller
from tests.factories import running_worker
from tests.features.documents.conftest import (
    document,
    document_settings,
    events,
    stored_files,
    uploaded,
)
from tests.features.documents.files import REPORT_PAGES, corrupt_pdf, pdf_with_text, text_image


async def test_a_corrupt_pdf_fails_with_extraction_failed_and_the_upload_stays_recorded(
    client: httpx.AsyncClient,
    caller: ApiCaller,
    database_url: str,
    registry: Registry,
    settings: Settings,
    storage: Path,
) -> None:
    data = corrupt_pdf()
    accepted = await uploaded(client, caller, data, "broken.pdf")

    async with running_worker(database_url, registry, settings):
        stream = await events(client, caller, accepted["id"])

    assert stream[-1][1] == "document" and stream[-1][2]["status"] == "failed"
    failed = await document(client, caller, accepted["id"])
    assert failed["status"] == "failed"
    assert failed["error"]["code"] == "EXTRACTION_FAILED"
    assert "damaged" in failed["error"]["message"]
    assert failed["operation"]["status"] == "failed"
    assert [p.read_bytes() for p in stored_files(storage)] == [data]
    text = await client.get(f"/api/v1/documents/{accepted['id']}/text", headers=caller.headers)
    assert text.status_code == 404
    assert text.json()["code"] == "DOCUMENT_TEXT_NOT_FOUND"
    metadata = await client.post(
        f"/api/v1/documents/{accepted['id']}/metadata", headers=caller.headers
    )
    assert metadata.status_code == 409
    assert metadata.json()["code"] == "DOCUMENT_NOT_EXTRACTED"


async def test_without_ocr_an_image_fails_saying_what_to_install_and_a_retry_reads_it(
    client: httpx.AsyncClient,
    caller: ApiCaller,
    database_url: str,
    registry: Registry,
    settings: Settings,
    storage: Path,
) -> None:
    no_ocr = document_settings(database_url, storage, tesseract_cmd="/nonexistent/tesseract")
    image = await uploaded(client, caller, text_image(), "scan.png")
    pdf = await uploaded(client, caller, pdf_with_text(REPORT_PAGES))

    async with running_worker(database_url, build_registry(no_ocr), no_ocr):
        await events(client, caller, image["id"])
        await events(client, caller, pdf["id"])

    failed = await document(client, caller, image["id"])
    assert failed["status"] == "failed"
    assert failed["error"]["code"] == "OCR_UNAVAILABLE"
    assert "apt-get install tesseract-ocr" in failed["error"]["message"]
    assert "brew install tesseract" in failed["error"]["message"]
    assert (await document(client, caller, pdf["id"]))["status"] == "ready"

    retried = await client.post(f"/api/v1/documents/{image['id']}/extract", headers=caller.headers)
    assert retried.status_code == 202, retried.text
    assert retried.json()["kind"] == "document.extract"
    assert (await document(client, caller, image["id"]))["status"] == "uploaded"
    async with running_worker(database_url, registry, settings):
        stream = await events(client, caller, image["id"])

    assert stream[0][2]["operation_id"] == retried.json()["id"]
    ready = await document(client, caller, image["id"])
    assert (ready["status"], ready["extraction_method"], ready["error"]) == ("ready", "ocr", None)


async def test_a_retry_while_extraction_is_pending_is_a_conflict(
    client: httpx.AsyncClient, caller: ApiCaller
) -> None:
    accepted = await uploaded(client, caller, pdf_with_text(REPORT_PAGES))

    retried = await client.post(
        f"/api/v1/documents/{accepted['id']}/extract", headers=caller.headers
    )
    metadata = await client.post(
        f"/api/v1/documents/{accepted['id']}/metadata", headers=caller.headers
    )

    assert retried.status_code == metadata.status_code == 409
    assert retried.json()["code"] == metadata.json()["code"] == "EXTRACTION_RUNNING"
    current = await document(client, caller, accepted["id"])
    assert current["operation"]["id"] == accepted["operation"]["id"]


async def test_metadata_is_regenerated_on_request(
    client: httpx.AsyncClient,
    caller: ApiCaller,
    database_url: str,
    registry: Registry,
    settings: Settings,
) -> None:
    accepted = await uploaded(client, caller, pdf_with_text(REPORT_PAGES))
    async with running_worker(database_url, registry, settings):
        await events(client, caller, accepted["id"])
        first = await document(client, caller, accepted["id"])

        again = await client.post(
            f"/api/v1/documents/{accepted['id']}/metadata", headers=caller.headers
        )
        assert again.status_code == 202, again.text
        stream = await events(client, caller, accepted["id"])

    assert again.json()["kind"] == "document.metadata"
    assert {data["kind"] for _, _, data in stream[:-1]} == {"document.metadata"}
    ready = await document(client, caller, accepted["id"])
    assert ready["status"] == "ready"
    assert ready["operation"]["id"] == again.json()["id"]
    assert ready["described_at"] > first["described_at"]
    assert ready["metadata"]["tags"] == first["metadata"]["tags"]
