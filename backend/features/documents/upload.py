"""Receiving an upload: the multipart body streamed to a staging file while it is hashed
and its type is sniffed from its first bytes, never held whole in memory and never
read twice.

The body is parsed with ``python-multipart``'s streaming parser as it arrives. File
bytes are gathered into blocks of ``BLOCK_BYTES``, each hashed and written to the page
cache as it fills: cheaper than a hop to a thread and back per block (12.4 → 9.0 ms of
CPU per 1 MB upload in bench/documents.py). Only the flush to disk and the rename
(``storage.publish``) run in a thread.
"""

from __future__ import annotations

import asyncio
import codecs
import hashlib
import unicodedata
import zipfile
from collections.abc import AsyncIterator
from dataclasses import dataclass

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from backend.features.documents.exceptions import (
    InvalidUpload,
    UnsupportedMediaType,
    UploadTooLarge,
)
from backend.features.documents.storage import DocumentStorage, StagedFile
from backend.request_limits import RouteLimit

FIELD = b"file"
# File bytes hashed and written at once.
BLOCK_BYTES = 256 * 1024
# Bytes looked at to tell the type.
HEAD_BYTES = 4096
# Multipart framing (boundaries, part headers) allowed beyond the file's own size.
FRAMING_BYTES = 16 * 1024

PDF = "application/pdf"
PNG = "image/png"
JPEG = "image/jpeg"
TIFF = "image/tiff"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
TEXT = "text/plain"
MARKDOWN = "text/markdown"
TEXT_TYPES = (TEXT, MARKDOWN)

_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", PDF),
    (b"\x89PNG\r\n\x1a\n", PNG),
    (b"\xff\xd8\xff", JPEG),
    (b"II*\x00", TIFF),
    (b"MM\x00*", TIFF),
    (b"PK\x03\x04", DOCX),  # a zip; confirmed to be a Word document once received
)
# Text that browsers would run or render as markup is not a document we accept.
_MARKUP = (b"<!doctype html", b"<html", b"<svg", b"<?xml", b"<script", b"<head", b"<body")
_MARKDOWN_SUFFIXES = (".md", ".markdown")


@dataclass(frozen=True)
class ReceivedFile:
    staged: StagedFile
    filename: str
    media_type: str
    size: int
    sha256: str


def sniff(head: bytes, filename: str) -> str | None:
    """The media type told by the content's first bytes (the file name only tells
    Markdown from plain text); None when it is not a supported type."""
    for magic, media_type in _MAGIC:
        if head.startswith(magic):
            return media_type
    if b"\x00" in head:
        return None
    body = head.removeprefix(codecs.BOM_UTF8)
    try:
        codecs.getincrementaldecoder("utf-8")().decode(body, final=False)
    except UnicodeDecodeError:
        return None
    if body.lstrip()[:16].lower().startswith(_MARKUP):
        return None
    return MARKDOWN if filename.lower().endswith(_MARKDOWN_SUFFIXES) else TEXT


def is_word_document(path: str) -> bool:
    """Whether a zip file is a Word document (has the main document part)."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, OSError):
        return False
    return "word/document.xml" in names and "[Content_Types].xml" in names


class _FileSink:
    """Hashes and writes the file's bytes; for text, checks they are UTF-8 without NULs."""

    def __init__(self, staged: StagedFile) -> None:
        self.staged = staged
        self.digest = hashlib.sha256()
        self.decoder: codecs.IncrementalDecoder | None = None

    def absorb(self, blocks: list[bytes]) -> bool:
        """Take a run of bytes; False when text turned out not to be UTF-8 text."""
        data = b"".join(blocks) if len(blocks) > 1 else blocks[0]
        self.digest.update(data)
        self.staged.write(data)
        if self.decoder is None:
            return True
        try:
            self.decoder.decode(data)
        except UnicodeDecodeError:
            return False
        return b"\x00" not in data

    def finish_text(self) -> bool:
        if self.decoder is None:
            return True
        try:
            self.decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return False
        return True


class _Part:
    """What the parser's callbacks found: the file part's name, and its bytes so far."""

    def __init__(self) -> None:
        self.headers: dict[bytes, bytes] = {}
        self.field = b""
        self.value = b""
        self.is_file = False
        self.filename = ""
        self.found = False
        self.finished = False
        self.chunks: list[bytes] = []


def _parser(boundary: bytes, part: _Part) -> MultipartParser:
    def on_part_begin() -> None:
        part.headers = {}
        part.is_file = False

    def on_header_field(data: bytes, start: int, end: int) -> None:
        part.field += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        part.value += data[start:end]

    def on_header_end() -> None:
        part.headers[part.field.lower()] = part.value
        part.field, part.value = b"", b""

    def on_headers_finished() -> None:
        _, options = parse_options_header(part.headers.get(b"content-disposition", b""))
        # Only the first part named "file" is the upload; other fields are read past.
        part.is_file = options.get(b"name") == FIELD and not part.found
        if part.is_file:
            part.found = True
            raw = options.get(b"filename", b"")
            part.filename = raw.decode("utf-8", errors="replace").replace("\\", "/")

    def on_part_data(data: bytes, start: int, end: int) -> None:
        if part.is_file:
            part.chunks.append(data[start:end])

    def on_part_end() -> None:
        if part.is_file:
            part.finished = True
            part.is_file = False

    return MultipartParser(
        boundary,
        {
            "on_part_begin": on_part_begin,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_headers_finished": on_headers_finished,
            "on_part_data": on_part_data,
            "on_part_end": on_part_end,
        },
    )


def boundary_of(content_type: str | None) -> bytes:
    kind, options = parse_options_header(content_type or "")
    boundary = options.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise InvalidUpload("The request is not multipart/form-data.")
    return boundary


def upload_limit(max_bytes: int) -> RouteLimit:
    """The body limit of the upload endpoint (backend.request_limits): the file's own limit
    plus room for the multipart framing, refused as UPLOAD_TOO_LARGE. It is checked on
    Content-Length before anything is staged, and on the bytes as they arrive, so a part
    other than ``file`` cannot stream on without end either."""
    return RouteLimit(max_bytes + FRAMING_BYTES, lambda: UploadTooLarge(max_bytes))


async def receive(
    body: AsyncIterator[bytes],
    content_type: str | None,
    storage: DocumentStorage,
    *,
    max_bytes: int,
) -> ReceivedFile:
    """Stream the ``file`` field of a multipart body into a staging file of ``storage``.

    Raises 400/413/415 errors (after discarding what was staged) for a body without a
    file, a file over ``max_bytes``, or content of an unsupported type.
    """
    part = _Part()
    parser = _parser(boundary_of(content_type), part)
    sink: _FileSink | None = None
    media_type: str | None = None
    size = 0
    pending: list[bytes] = []
    pending_bytes = 0
    head = b""
    try:
        async for chunk in body:
            try:
                parser.write(chunk)
            except MultipartParseError as exc:
                raise InvalidUpload("The multipart body is malformed.") from exc
            if not part.chunks:
                continue
            for data in part.chunks:
                size += len(data)
                pending.append(data)
                pending_bytes += len(data)
            part.chunks.clear()
            if size > max_bytes:
                raise UploadTooLarge(max_bytes)
            if media_type is None:
                if len(head) < HEAD_BYTES:
                    head = b"".join(pending)[:HEAD_BYTES]
                if len(head) < HEAD_BYTES and not part.finished:
                    continue
                media_type = _sniffed(head, part.filename)
                sink = _FileSink(storage.stage())
                if media_type in TEXT_TYPES:
                    sink.decoder = codecs.getincrementaldecoder("utf-8-sig")()
            if pending_bytes >= BLOCK_BYTES and sink is not None:
                await _absorb(sink, pending)
                pending, pending_bytes = [], 0
        try:
            parser.finalize()
        except MultipartParseError as exc:
            raise InvalidUpload("The multipart body ended early.") from exc
        if not part.found or not part.finished:
            raise InvalidUpload("The request has no complete `file` field.")
        if size == 0:
            raise InvalidUpload("The file is empty.")
        if media_type is None:
            media_type = _sniffed(head, part.filename)
            sink = _FileSink(storage.stage())
            if media_type in TEXT_TYPES:
                sink.decoder = codecs.getincrementaldecoder("utf-8-sig")()
        assert sink is not None
        if pending:
            await _absorb(sink, pending)
        if not sink.finish_text():
            raise UnsupportedMediaType()
        if media_type == DOCX and not await asyncio.to_thread(_confirm_docx, sink.staged):
            raise UnsupportedMediaType()
    except BaseException:
        if sink is not None:
            await asyncio.to_thread(sink.staged.discard)
        raise
    return ReceivedFile(
        staged=sink.staged,
        filename=clean_filename(part.filename, media_type),
        media_type=media_type,
        size=size,
        sha256=sink.digest.hexdigest(),
    )


def _sniffed(head: bytes, filename: str) -> str:
    media_type = sniff(head, filename)
    if media_type is None:
        raise UnsupportedMediaType()
    return media_type


async def _absorb(sink: _FileSink, blocks: list[bytes]) -> None:
    # Hashing and writing a block costs less than handing it to a thread and back
    # (measured with bench/documents.py); the file is flushed to disk in a thread.
    if not sink.absorb(blocks):
        raise UnsupportedMediaType()


def _confirm_docx(staged: StagedFile) -> bool:
    staged.flush()
    return is_word_document(str(staged.path))


_DEFAULT_NAMES = {
    PDF: "document.pdf",
    PNG: "image.png",
    JPEG: "image.jpg",
    TIFF: "image.tiff",
    DOCX: "document.docx",
    TEXT: "document.txt",
    MARKDOWN: "document.md",
}


# Longest name kept, in characters (documents.filename is a varchar(255)).
MAX_NAME_CHARS = 255
# Characters of an extension kept when a long name is shortened.
MAX_SUFFIX_CHARS = 16


def clean_filename(raw: str, media_type: str) -> str:
    """The client's file name as shown and offered for download: its last path
    component only (after folding look-alike slashes and dots: fullwidth, etc.), without
    control, format (bidirectional overrides, zero-width) or separator characters, and
    not one of ``.``/``..``; shortened keeping its extension. The name is never a path
    on disk: files are stored under ids (service.storage_key)."""
    name = unicodedata.normalize("NFKC", raw).replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable()).strip(" .")
    if len(name) > MAX_NAME_CHARS:
        stem, dot, suffix = name.rpartition(".")
        if dot and stem and len(suffix) <= MAX_SUFFIX_CHARS:
            name = stem[: MAX_NAME_CHARS - len(suffix) - 1].rstrip(" .") + "." + suffix
        else:
            name = name[:MAX_NAME_CHARS].rstrip(" .")
    return name or _DEFAULT_NAMES[media_type]
