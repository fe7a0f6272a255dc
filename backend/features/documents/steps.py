"""The writes the document handlers make when a step completes: the extracted text
(or a twin's, for identical bytes), the move to the metadata step, the metadata."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from backend.features.documents.models import Document, Phase
from backend.llm import Usage
from backend.llm.tasks import DocumentMetadata


@dataclass(frozen=True)
class Twin:
    """An earlier upload of the same bytes whose text was extracted."""

    id: uuid.UUID
    page_count: int | None
    text_length: int
    extraction_method: str


# Served by ix_documents_tenant_id_sha256.
_TWIN = text(
    """
    SELECT d.id, d.page_count, d.text_length, d.extraction_method
    FROM documents AS d JOIN document_texts AS t ON t.document_id = d.id
    WHERE d.tenant_id = :tenant AND d.sha256 = :sha256 AND d.id <> :id
      AND d.extracted_at IS NOT NULL
    ORDER BY d.extracted_at
    LIMIT 1
    """
)


async def extracted_twin(db: AsyncSession, document: Document) -> Twin | None:
    row = (
        await db.execute(
            _TWIN, {"tenant": document.tenant_id, "sha256": document.sha256, "id": document.id}
        )
    ).first()
    if row is None:
        return None
    return Twin(row.id, row.page_count, row.text_length, row.extraction_method)


async def copy_text(db: AsyncSession, document_id: uuid.UUID, twin: Twin) -> bool:
    """Give the document the twin's text; False when the twin is gone meanwhile."""
    result = await db.execute(
        text(
            """
            INSERT INTO document_texts (document_id, text)
            SELECT :id, text FROM document_texts WHERE document_id = :twin
            ON CONFLICT (document_id) DO UPDATE SET text = EXCLUDED.text
            """
        ),
        {"id": document_id, "twin": twin.id},
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def save_text(db: AsyncSession, document_id: uuid.UUID, extracted: str) -> None:
    await db.execute(
        text(
            """
            INSERT INTO document_texts (document_id, text) VALUES (:id, :text)
            ON CONFLICT (document_id) DO UPDATE SET text = EXCLUDED.text
            """
        ),
        {"id": document_id, "text": extracted},
    )


async def finish_extraction(
    db: AsyncSession,
    document_id: uuid.UUID,
    *,
    operation_id: uuid.UUID,
    next_operation_id: uuid.UUID,
    page_count: int | None,
    text_length: int,
    method: str,
    reused_from: uuid.UUID | None,
) -> bool:
    """Record what extraction read and move on to metadata; False when the document
    is gone or another operation has taken over its current step."""
    result = await db.execute(
        update(Document)
        .where(Document.id == document_id, Document.current_operation_id == operation_id)
        .values(
            phase=Phase.metadata.value,
            current_operation_id=next_operation_id,
            page_count=page_count,
            text_length=text_length,
            extraction_method=method,
            reused_from=reused_from,
            extracted_at=func.now(),
            updated_at=func.now(),
        )
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def save_metadata(
    db: AsyncSession,
    document_id: uuid.UUID,
    *,
    operation_id: uuid.UUID,
    answer: DocumentMetadata,
    usage: Usage,
) -> bool:
    """Store the metadata; the document is ready if this operation is still its
    current step. False when the document is gone."""
    values: dict[str, Any] = {
        "display_name": answer.display_name,
        "tags": answer.tags,
        "summary": answer.summary,
        "language": answer.language,
        "generated_by": generated_by(usage),
        "described_at": func.now(),
        "updated_at": func.now(),
    }
    result = await db.execute(
        update(Document)
        .where(Document.id == document_id, Document.current_operation_id == operation_id)
        .values(phase=Phase.ready.value, **values)
    )
    if result.rowcount:  # type: ignore[attr-defined]
        return True
    result = await db.execute(update(Document).where(Document.id == document_id).values(**values))
    return bool(result.rowcount)  # type: ignore[attr-defined]


def generated_by(usage: Usage) -> dict[str, Any]:
    return {
        "provider": usage.provider,
        "model": usage.model,
        "prompt": usage.prompt,
        "prompt_version": usage.prompt_version,
        "prompt_digest": usage.prompt_digest,
    }
