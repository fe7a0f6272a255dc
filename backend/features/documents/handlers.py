"""The two steps of a document's chain: ``document.extract`` reads its text (reporting
progress page by page) and, in the transaction that completes it, creates the
``document.metadata`` operation, which asks the model for a name, tags, a summary and
the language."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from backend.config import Settings
from backend.features.documents import service, steps
from backend.features.documents.extraction import (
    ExtractionError,
    OcrConfig,
    has_page_numbers,
    open_document,
)
from backend.features.documents.models import Document, DocumentText
from backend.features.documents.schemas import (
    ExtractionResult,
    ExtractParams,
    GeneratedBy,
    MetadataParams,
    MetadataResult,
)
from backend.features.documents.storage import DocumentStorage, LocalStorage
from backend.llm.tasks import DocumentMetadata
from backend.operations.context import OperationContext
from backend.operations.exceptions import PermanentFailure, RetryableFailure
from backend.operations.registry import Registry
from backend.operations.service import create_child_operation

PROMPT = "document_metadata"
# The model reads at most this much of a document: enough to name and summarise it.
PROMPT_CHARACTERS = 24_000
# At most this many progress reports per document, however many pages it has.
MAX_PROGRESS_REPORTS = 100
MAX_TAGS = 8
MAX_TAG_LENGTH = 40


class Extractor:
    """``document.extract`` with the storage and OCR settings of this process."""

    def __init__(self, storage: DocumentStorage, ocr: OcrConfig) -> None:
        self.storage = storage
        self.ocr = ocr

    async def __call__(self, ctx: OperationContext, params: ExtractParams) -> ExtractionResult:
        async with ctx.sessionmaker() as db:
            document = await _document(db, ctx, params.document_id)
            twin = None if params.force else await steps.extracted_twin(db, document)
        if twin is not None:
            # The same bytes were read before: their text is copied, the file not read.
            if not await steps.copy_text(ctx.session, document.id, twin):
                raise RetryableFailure(
                    "DOCUMENT_CHANGED", "The earlier copy of this document was just deleted."
                )
            pages, length, method = twin.page_count, twin.text_length, twin.extraction_method
        else:
            extracted, pages, method = await self._read(ctx, document)
            if not extracted.strip():
                raise PermanentFailure(
                    "NO_TEXT_FOUND",
                    "No text could be read from this document. If it is a scan, upload a "
                    "sharper copy; otherwise it may hold only pictures.",
                )
            await steps.save_text(ctx.session, document.id, extracted)
            length = len(extracted)
        child = await create_child_operation(
            ctx,
            service.METADATA_KIND,
            MetadataParams(document_id=document.id),
            target=ctx.target,
            dedup_key=service.metadata_dedup_key(document.id),
        )
        moved = await steps.finish_extraction(
            ctx.session,
            document.id,
            operation_id=ctx.operation_id,
            next_operation_id=child.id,
            page_count=pages,
            text_length=length,
            method=method,
            reused_from=twin.id if twin else None,
        )
        if not moved:
            raise PermanentFailure(
                "DOCUMENT_CHANGED",
                "The document was deleted or its extraction restarted while it was read.",
            )
        return ExtractionResult(
            document_id=document.id,
            method=method,
            page_count=pages,
            text_length=length,
            reused_from=twin.id if twin else None,
        )

    async def _read(self, ctx: OperationContext, document: Document) -> tuple[str, int | None, str]:
        """The text of the stored file, page by page in a thread, with progress."""
        try:
            path: Path = self.storage.local_path(document.storage_key)
            opened = await asyncio.to_thread(open_document, path, document.media_type, self.ocr)
        except FileNotFoundError as exc:
            raise PermanentFailure(
                "FILE_MISSING", "The uploaded file is no longer stored; upload it again."
            ) from exc
        except ExtractionError as exc:
            raise PermanentFailure(exc.code, exc.message) from exc
        texts: list[str] = []
        methods: set[str] = set()
        step = max(1, -(-opened.pages // MAX_PROGRESS_REPORTS))
        try:
            await ctx.progress(0, "extracting", f"Reading {opened.pages} page(s).")
            for index in range(opened.pages):
                ctx.raise_if_cancelled()
                page = await asyncio.to_thread(opened.page, index)
                texts.append(page.text)
                methods.add(page.method)
                number = index + 1
                if number % step == 0 or number == opened.pages:
                    percent = round(100 * number / opened.pages, 1)
                    await ctx.progress(percent, "extracting", f"Page {number} of {opened.pages}")
        except ExtractionError as exc:
            raise PermanentFailure(exc.code, exc.message) from exc
        finally:
            await asyncio.to_thread(opened.close)
        method = "ocr" if "ocr" in methods else next(iter(methods), "text")
        pages = opened.pages if has_page_numbers(document.media_type) else None
        return "\n\n".join(t for t in texts if t), pages, method


async def describe(ctx: OperationContext, params: MetadataParams) -> MetadataResult:
    """Ask the model about the text (no transaction open meanwhile), then store its
    answer through ``ctx.session`` so it commits with the operation's completion."""
    async with ctx.sessionmaker() as db:
        document = await _document(db, ctx, params.document_id)
        extracted = await db.get(DocumentText, document.id)
        if extracted is None:
            raise PermanentFailure(
                "DOCUMENT_NOT_EXTRACTED", "The document has no extracted text to describe."
            )
        content = extracted.text
    await ctx.progress(None, "describing", "Naming, tagging and summarising the document.")
    excerpt = content[:PROMPT_CHARACTERS]
    answer, usage = await ctx.llm.generate(
        PROMPT,
        {
            "document": excerpt,
            "truncated": len(content) > len(excerpt),
            "characters": len(excerpt),
        },
        schema=DocumentMetadata,
    )
    answer = tidy(answer)
    if not await steps.save_metadata(
        ctx.session, document.id, operation_id=ctx.operation_id, answer=answer, usage=usage
    ):
        raise PermanentFailure("DOCUMENT_NOT_FOUND", "The document was deleted meanwhile.")
    return MetadataResult(
        document_id=document.id,
        display_name=answer.display_name,
        tags=answer.tags,
        summary=answer.summary,
        language=answer.language,
        generated_by=GeneratedBy.model_validate(steps.generated_by(usage)),
    )


def tidy(answer: DocumentMetadata) -> DocumentMetadata:
    """Tags lowercase, trimmed and distinct; a language code in lowercase."""
    tags: list[str] = []
    for tag in answer.tags:
        cleaned = " ".join(tag.lower().split())[:MAX_TAG_LENGTH].strip(" ,.;")
        if cleaned and cleaned not in tags:
            tags.append(cleaned)
    return answer.model_copy(
        update={
            "display_name": " ".join(answer.display_name.split()),
            "summary": answer.summary.strip(),
            "tags": tags[:MAX_TAGS],
            "language": answer.language.strip().lower()[:35] or "und",
        }
    )


async def _document(db: AsyncSession, ctx: OperationContext, document_id: object) -> Document:
    found = await db.get(Document, document_id)
    if found is None or found.tenant_id != ctx.tenant_id:
        raise PermanentFailure("DOCUMENT_NOT_FOUND", "The document was deleted.")
    return found


def register_documents(registry: Registry, settings: Settings) -> None:
    """The kinds of documents: extraction (files on this process's storage) and
    metadata."""
    storage = LocalStorage(settings.document_storage_path, fsync=settings.documents.fsync)
    ocr = OcrConfig(
        command=settings.documents.tesseract_cmd, languages=settings.documents.ocr_languages
    )
    registry.register(
        service.EXTRACT_KIND,
        Extractor(storage, ocr),
        params=ExtractParams,
        result=ExtractionResult,
        timeout=900,
        max_attempts=3,
    )
    registry.register(
        service.METADATA_KIND,
        describe,
        params=MetadataParams,
        result=MetadataResult,
        max_attempts=3,
        poll_after=2,
    )
