"""A document as the API shows it: its status, metadata, error, current operation
and links."""

from __future__ import annotations

import uuid

from fastapi import Request

from backend.features.documents import service
from backend.features.documents.models import Document, DocumentStatus
from backend.features.documents.schemas import (
    DocumentError,
    DocumentLinks,
    DocumentMetadataOut,
    DocumentOut,
    GeneratedBy,
)
from backend.operations.http import to_schema
from backend.operations.models import Operation
from backend.urls import url_for


def document_links(request: Request, document_id: uuid.UUID) -> DocumentLinks:
    url = url_for(request, "get_document", document_id=document_id)
    return DocumentLinks(
        self=url,
        text=url + "/text",
        file=url + "/file",
        events=url + "/events",
        extract=url + "/extract",
        metadata=url + "/metadata",
    )


def document_out(request: Request, document: Document, op: Operation | None) -> DocumentOut:
    status = service.document_status(document.current_phase, op)
    metadata = None
    if document.described_at is not None and document.generated_by is not None:
        metadata = DocumentMetadataOut(
            display_name=document.display_name or "",
            tags=document.tags or [],
            summary=document.summary or "",
            language=document.language or "und",
            generated_by=GeneratedBy.model_validate(document.generated_by),
        )
    error = None
    if status is DocumentStatus.failed:
        detail = op.error if op is not None and op.error else None
        error = DocumentError(
            code=detail["code"] if detail else "STEP_FAILED",
            message=detail["message"] if detail else "The last step failed; retry it.",
        )
    return DocumentOut(
        id=document.id,
        filename=document.filename,
        media_type=document.media_type,
        size_bytes=document.size_bytes,
        sha256=document.sha256,
        status=status,
        page_count=document.page_count,
        text_length=document.text_length,
        extraction_method=document.extraction_method,
        reused_from=document.reused_from,
        metadata=metadata,
        error=error,
        operation=to_schema(request, op) if op is not None else None,
        created_at=document.created_at,
        extracted_at=document.extracted_at,
        described_at=document.described_at,
        links=document_links(request, document.id),
    )
