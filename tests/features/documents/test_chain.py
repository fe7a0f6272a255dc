"""A document's whole chain with a real worker and the local provider: upload, text
extraction page by page, metadata, ready; one event stream over all of it."""

from __future__ import annotations

from pathlib import Path

import httpx

from backend.config import Settings
from backend.operations.registry import Registry
from tests.conftest import ApiCaller
from tests.factories import running_worker
from tests.features.documents.conftest import (
    document,
    events,
    stored_files,
    upload,
    uploaded,
)
from tests.features.documents.files import (
    REPORT_PAGES,
    SCANNED_TEXT,
    pdf_with_text,
    scanned_pdf,
    text_image,
)


async def test_an_uploaded_pdf_is_answered_at_once_then_extracted_described_and_ready(
    client: httpx.AsyncClient,
    caller: ApiCaller,
    database_url: str,
    registry: Registry,
    settings: Settings,
    storage: Path,
) -> None:
    data = pdf_with_text(REPORT_PAGES)

    response = await upload(client, caller, data, "q3-report.pdf")

    assert response.status_code == 202, response.text
    accepted = response.json()
    assert accepted["status"] == "uploaded"
    assert accepted["media_type"] == "application/pdf"
    assert accepted["filename"] == "q3-report.pdf"
    assert accepted["size_bytes"] == len(data)
    assert accepted["operation"]["kind"] == "document.extract"
    assert accepted["operation"]["status"] == "pending"
    assert response.headers["location"].endswith(
        f"/api/v1/operations/{accepted['operation']['id']}"
    )
    assert [p.read_bytes() for p in stored_files(storage)] == [data]

    async with running_worker(database_url, registry, settings):
        stream = await events(client, caller, accepted["id"])

    final = stream[-1]
    assert final[1] == "document" and final[2]["status"] == "ready"
    ready = await document(client, caller, accepted["id"])
    assert ready["status"] == "ready"
    assert ready["page_count"] == 3
    assert ready["extraction_method"] == "pdf"
    assert ready["operation"]["kind"] == "document.metadata"
    assert ready["operation"]["parent_id"] == accepted["operation"]["id"]
    metadata = ready["metadata"]
    assert metadata["display_name"]
    assert 3 <= len(metadata["tags"]) <= 8
    assert all(tag == tag.lower() for tag in metadata["tags"])
    assert metadata["summary"] and metadata["language"] == "en"
    assert metadata["generated_by"]["provider"] == "local"
    assert metadata["generated_by"]["prompt"] == "document_metadata"
    text = (
        await client.get(f"/api/v1/documents/{accepted['id']}/text", headers=caller.headers)
    ).json()
    assert all(page in text["text"] for page in REPORT_PAGES)
    assert text["text_length"] == ready["text_length"] == len(text["text"])
    file = await client.get(f"/api/v1/documents/{accepted['id']}/file", headers=caller.headers)
    assert file.content == data
    assert file.headers["content-type"] == "application/pdf"
    assert file.headers["x-content-type-options"] == "nosniff"
    assert file.headers["content-disposition"].startswith("attachment")


async def test_the_stream_reports_each_page_then_the_metadata_then_ready_in_order(
    client: httpx.AsyncClient,
    caller: ApiCaller,
    database_url: str,
    registry: Registry,
    settings: Settings,
) -> None:
    accepted = await uploaded(client, caller, pdf_with_text(REPORT_PAGES))

    async with running_worker(database_url, registry, settings):
        stream = await events(client, caller, accepted["id"])

    extract_id = accepted["operation"]["id"]
    kinds = [data.get("kind") for _, _, data in stream[:-1]]
    assert kinds == sorted(kinds, key=lambda kind: kind != "document.extract")
    extraction = [
        (kind, data) for _, kind, data in stream if data.get("kind") == "document.extract"
    ]
    pages = [data["progress"]["message"] for kind, data in extraction if kind == "progress"]
    assert pages == ["Reading 3 page(s).", "Page 1 of 3", "Page 2 of 3", "Page 3 of 3"]
    assert [data["status"] for kind, data in extraction if kind in ("created", "status")] == [
        "pending",
        "processing",
        "completed",
    ]
    metadata = [(kind, data) for _, kind, data in stream if data.get("kind") == "document.metadata"]
    assert [data["status"] for kind, data in metadata if kind in ("created", "status")] == [
        "pending",
        "processing",
        "completed",
    ]
    assert metadata[-1][1]["result"]["tags"]
    assert all(
        event_id.startswith(extract_id + ".")
        for event_id, _, data in stream
        if data.get("kind") == "document.extract"
    )
    assert stream[-1][0].endswith(".end")
    assert stream[-1][2]["status"] == "ready"


async def test_a_stream_resumed_mid_chain_gets_exactly_the_events_it_missed(
    client: httpx.AsyncClient,
    caller: ApiCaller,
    database_url: str,
    registry: Registry,
    settings: Settings,
) -> None:
    accepted = await uploaded(client, caller, pdf_with_text(REPORT_PAGES))
    async with running_worker(database_url, registry, settings):
        whole = await events(client, caller, accepted["id"])

    # Cut after the second page's progress, and after the extraction's last event.
    cuts = [
        next(
            i
            for i, e in enumerate(whole)
            if e[2].get("progress", {}) and (e[2]["progress"] or {}).get("message") == "Page 2 of 3"
        ),
        max(i for i, e in enumerate(whole) if e[2].get("kind") == "document.extract"),
    ]
    for cut in cuts:
        resumed = await events(client, caller, accepted["id"], last_event_id=whole[cut][0])
        assert [(i, t) for i, t, _ in resumed] == [(i, t) for i, t, _ in whole[cut + 1 :]]
    again = await client.get(
        f"/api/v1/documents/{accepted['id']}/events",
        headers={**caller.headers, "Last-Event-ID": whole[-1][0]},
    )
    assert again.status_code == 204
    bad = await client.get(
        f"/api/v1/documents/{accepted['id']}/events",
        headers={**caller.headers, "Last-Event-ID": "not-an-id"},
    )
    assert bad.status_code == 422
    assert bad.json()["code"] == "INVALID_LAST_EVENT_ID"


async def test_images_and_scanned_pdfs_are_read_by_ocr(
    client: httpx.AsyncClient,
    caller: ApiCaller,
    database_url: str,
    registry: Registry,
    settings: Settings,
) -> None:
    image = await uploaded(client, caller, text_image(), "scan.png")
    tiff = await uploaded(client, caller, text_image(fmt="TIFF"), "scan.tiff")
    scan = await uploaded(client, caller, scanned_pdf(), "scan.pdf")

    async with running_worker(database_url, registry, settings):
        for accepted in (image, tiff, scan):
            await events(client, caller, accepted["id"])

    for accepted, media_type in (
        (image, "image/png"),
        (tiff, "image/tiff"),
        (scan, "application/pdf"),
    ):
        ready = await document(client, caller, accepted["id"])
        assert ready["status"] == "ready", ready
        assert ready["media_type"] == media_type
        assert (ready["extraction_method"], ready["page_count"]) == ("ocr", 1)
        text = (
            await client.get(f"/api/v1/documents/{accepted['id']}/text", headers=caller.headers)
        ).json()["text"]
        assert "Invoice 4711" in text, text
        assert SCANNED_TEXT.split()[-1] in text


async def test_markdown_and_word_documents_are_read_as_they_are(
    client: httpx.AsyncClient,
    caller: ApiCaller,
    database_url: str,
    registry: Registry,
    settings: Settings,
) -> None:
    from tests.features.documents.files import word_document

    notes = "# Onboarding notes\n\nNew engineers pair with a buddy for two weeks.\n"
    markdown = await uploaded(client, caller, notes.encode(), "notes.md")
    word = await uploaded(
        client, caller, word_document(["Holiday policy.", "Staff get thirty days."]), "p.docx"
    )

    async with running_worker(database_url, registry, settings):
        for accepted in (markdown, word):
            await events(client, caller, accepted["id"])

    md = await document(client, caller, markdown["id"])
    assert (md["status"], md["media_type"], md["page_count"]) == ("ready", "text/markdown", None)
    docx = await document(client, caller, word["id"])
    assert docx["status"] == "ready"
    assert docx["extraction_method"] == "docx"
    text = (
        await client.get(f"/api/v1/documents/{word['id']}/text", headers=caller.headers)
    ).json()["text"]
    assert "Staff get thirty days." in text
