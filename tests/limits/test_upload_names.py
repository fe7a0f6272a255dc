"""Hostile upload names: the stored file lands under the storage folder, named by ids,
and the name shown (and offered for download) is a plain file name."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

from backend.features.documents.upload import MAX_NAME_CHARS, TEXT, clean_filename
from tests.conftest import ApiCaller

CLEANED = {
    "../../etc/passwd": "passwd",
    "/etc/passwd": "passwd",
    "..\\..\\windows\\system32\\config": "config",
    "C:\\Users\\me\\notes.txt": "notes.txt",
    "..": "document.txt",
    "../..": "document.txt",
    "   ": "document.txt",
    "notes\x00.txt": "notes.txt",
    "a\r\nContent-Type: text/html.txt": "html.txt",
    # Fullwidth solidus and full stops fold to what they look like.
    "\uff0e\uff0e\uff0fsecret.txt": "secret.txt",
    # A right-to-left override would show "exe.txt" as "txt.exe".
    "report\u202etxt.exe": "reporttxt.exe",
    "zero\u200bwidth.txt": "zerowidth.txt",
    ".hidden": "hidden",
    "ok name (1).md": "ok name (1).md",
    "Grüße.txt": "Grüße.txt",
}


@pytest.mark.parametrize(("raw", "shown"), CLEANED.items())
def test_a_hostile_name_is_cleaned_to_a_plain_file_name(raw: str, shown: str) -> None:
    assert clean_filename(raw, TEXT) == shown


def test_a_very_long_name_is_shortened_keeping_its_extension() -> None:
    name = clean_filename("x" * 5000 + ".pdf", TEXT)

    assert len(name) == MAX_NAME_CHARS
    assert name.endswith("xxx.pdf")


HOSTILE_NAMES = [
    "../../etc/passwd",
    "/etc/passwd",
    "..\\..\\evil.txt",
    "..%2F..%2Fencoded.txt",
    "\uff0e\uff0e\uff0fwide.txt",
    "x" * 3000 + ".txt",
    "report\u202etxt.exe",
    "..",
]


def multipart(filename: bytes, content: bytes) -> bytes:
    """A multipart body with the file name exactly as given (NUL bytes included)."""
    return (
        b'--b\r\nContent-Disposition: form-data; name="file"; filename="'
        + filename
        + b'"\r\nContent-Type: text/plain\r\n\r\n'
        + content
        + b"\r\n--b--\r\n"
    )


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


async def test_files_land_only_under_the_storage_folder_named_by_ids(
    client: httpx.AsyncClient, caller: ApiCaller, storage: Path, tmp_path: Path
) -> None:
    documents = []
    for n, name in enumerate(HOSTILE_NAMES):
        response = await client.post(
            "/api/v1/documents",
            files={"file": (name, f"Text number {n}.".encode(), "text/plain")},
            headers=caller.headers,
        )
        assert response.status_code == 202, response.text
        documents.append(response.json())
    nul = await client.post(
        "/api/v1/documents",
        content=multipart(b"../\x00../nul\x00.txt", b"Text with a NUL in its name."),
        headers={**caller.headers, "Content-Type": "multipart/form-data; boundary=b"},
    )
    assert nul.status_code == 202, nul.text
    documents.append(nul.json())

    everything = files_under(tmp_path)
    stored = files_under(storage)
    assert everything == stored  # nothing was written beside the storage folder
    assert sorted(str(p.relative_to(storage)) for p in stored) == sorted(
        f"{caller.tenant_id}/{d['id']}" for d in documents
    )
    for document in documents:
        name = document["filename"]
        assert "/" not in name and "\\" not in name and "\x00" not in name
        assert name not in ("", ".", "..") and len(name) <= MAX_NAME_CHARS
        assert all(ch.isprintable() for ch in name)
    assert nul.json()["filename"] == "nul.txt"


async def test_the_download_offers_the_cleaned_name(
    client: httpx.AsyncClient, caller: ApiCaller
) -> None:
    uploaded = await client.post(
        "/api/v1/documents",
        files={"file": ('../"quoted"; x=1.txt', b"Some text.", "text/plain")},
        headers=caller.headers,
    )
    document_id = uploaded.json()["id"]

    response = await client.get(f"/api/v1/documents/{document_id}/file", headers=caller.headers)

    assert response.status_code == 200
    disposition = response.headers["content-disposition"]
    assert disposition.startswith("attachment; filename*=utf-8''")
    assert "/" not in disposition and '"' not in disposition and "\n" not in disposition
    assert os.path.basename(disposition) == disposition
