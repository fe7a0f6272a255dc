"""Documents: accept an upload, read one, retry its steps, delete it (the writes the
handlers make when a step completes are in ``steps``). Services never commit: the request (or the
operation's completion) does.

A document's status is not stored: it is its ``phase`` (which step of the chain it is
in, written in the transaction that completes the previous step) read together with
the state of its current operation, so a failure, a cancel or a lost worker shows
without any handler having to write it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth.service import Caller
from backend.features.documents.exceptions import (
    DocumentNotExtracted,
    DocumentNotFound,
    DocumentTextNotFound,
    ExtractionRunning,
    QuotaExceeded,
)
from backend.features.documents.models import (
    Document,
    DocumentStatus,
    DocumentText,
    Phase,
)
from backend.features.documents.schemas import ExtractParams, MetadataParams
from backend.features.documents.upload import ReceivedFile
from backend.operations import service as operations
from backend.operations.models import Operation
from backend.operations.registry import Registry
from backend.operations.states import ACTIVE, Status

EXTRACT_KIND = "document.extract"
METADATA_KIND = "document.metadata"


def storage_key(tenant_id: uuid.UUID, document_id: uuid.UUID) -> str:
    return f"{tenant_id}/{document_id}"


def content_key(sha256: str) -> str:
    """Extractions of the same bytes run one at a time in a tenant, so the later ones
    find the earlier one's text and reuse it."""
    return f"document-content:{sha256}"


def metadata_dedup_key(document_id: uuid.UUID) -> str:
    return f"document-metadata:{document_id}"


# -- status -----------------------------------------------------------------------------


def document_status(phase: Phase, op: Operation | None) -> DocumentStatus:
    """The status clients see, from the phase and its operation's state."""
    if phase is Phase.ready:
        return DocumentStatus.ready
    # The operation of a phase that was not left is gone only once it finished (pruned
    # after its retention), and it cannot have completed without leaving the phase.
    if op is None or op.state in (Status.failed, Status.cancelled):
        return DocumentStatus.failed
    started = op.state is Status.processing or op.attempt > 0
    if phase is Phase.extraction:
        return DocumentStatus.extracting if started else DocumentStatus.uploaded
    return DocumentStatus.describing if started else DocumentStatus.extracted


# -- monthly quota ------------------------------------------------------------------------


@dataclass(frozen=True)
class QuotaWindow:
    month: datetime
    resets_at: datetime


def quota_window(now: datetime) -> QuotaWindow:
    month = now.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    following = (month + timedelta(days=32)).replace(day=1)
    return QuotaWindow(month, following)


def quota_exceeded(quota: int, now: datetime) -> QuotaExceeded:
    window = quota_window(now)
    retry_after = max(1, int((window.resets_at - now).total_seconds()) + 1)
    return QuotaExceeded(quota, window.resets_at, retry_after)


# -- upload -------------------------------------------------------------------------------

# Counts the upload against the month's quota and inserts the document in one
# statement; no row when the quota is spent. The count's row stays locked until the
# request commits, right after: concurrent uploads of a tenant wait only that long.
_INSERT_COUNTED = text(
    """
    WITH counted AS (
        INSERT INTO document_upload_counts AS c (tenant_id, month, uploads)
        VALUES (:tenant, date_trunc('month', now() AT TIME ZONE 'UTC')::date, 1)
        ON CONFLICT (tenant_id, month) DO UPDATE SET uploads = c.uploads + 1
        WHERE :quota = 0 OR c.uploads < :quota
        RETURNING uploads
    )
    INSERT INTO documents (
        id, tenant_id, principal_id, filename, media_type, size_bytes, sha256,
        storage_key, phase, current_operation_id
    )
    SELECT :id, :tenant, :principal, :filename, :media_type, :size, :sha256,
           :storage_key, 'extraction', :operation
    FROM counted
    RETURNING created_at, now() AS now
    """
)


@dataclass(frozen=True)
class NewDocument:
    """A document just written by an upload, with its extraction operation."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    filename: str
    media_type: str
    size_bytes: int
    sha256: str
    storage_key: str
    created_at: datetime
    operation: Operation


async def create_document(
    db: AsyncSession,
    registry: Registry,
    caller: Caller,
    received: ReceivedFile,
    *,
    document_id: uuid.UUID,
    key: str,
    target: str,
    quota: int,
) -> NewDocument:
    """The document row and its extraction operation, in the caller's transaction
    (two statements and the wake-up; no ORM object but the operation)."""
    op = await operations.create_operation(
        db,
        registry,
        tenant_id=caller.tenant_id,
        principal_id=caller.principal_id,
        kind=EXTRACT_KIND,
        params=ExtractParams(document_id=document_id),
        target=target,
        concurrency_key=content_key(received.sha256),
    )
    row = (
        await db.execute(
            _INSERT_COUNTED,
            {
                "id": document_id,
                "tenant": caller.tenant_id,
                "principal": caller.principal_id,
                "filename": received.filename,
                "media_type": received.media_type,
                "size": received.size,
                "sha256": received.sha256,
                "storage_key": key,
                "operation": op.id,
                "quota": quota,
            },
        )
    ).first()
    if row is None:
        raise quota_exceeded(quota, datetime.now(UTC))
    return NewDocument(
        id=document_id,
        tenant_id=caller.tenant_id,
        filename=received.filename,
        media_type=received.media_type,
        size_bytes=received.size,
        sha256=received.sha256,
        storage_key=key,
        created_at=row.created_at,
        operation=op,
    )


# -- reading --------------------------------------------------------------------------------


async def get_document(
    db: AsyncSession, tenant_id: uuid.UUID, document_id: uuid.UUID, *, lock: bool = False
) -> tuple[Document, Operation | None]:
    """The tenant's document and its current operation (one query)."""
    query = (
        select(Document, Operation)
        .outerjoin(Operation, Operation.id == Document.current_operation_id)
        .where(Document.id == document_id, Document.tenant_id == tenant_id)
    )
    if lock:
        query = query.with_for_update(of=Document, key_share=True)
    row = (await db.execute(query)).first()
    if row is None:
        raise DocumentNotFound()
    return row.Document, row.Operation


async def get_text(db: AsyncSession, tenant_id: uuid.UUID, document_id: uuid.UUID) -> str:
    document, _ = await get_document(db, tenant_id, document_id)
    found = await db.scalar(
        select(DocumentText.text).where(DocumentText.document_id == document.id)
    )
    if found is None:
        raise DocumentTextNotFound()
    return found


# -- retries and deletion -------------------------------------------------------------------


async def retry_extraction(
    db: AsyncSession,
    registry: Registry,
    caller: Caller,
    document_id: uuid.UUID,
    *,
    target: str,
    retention: timedelta,
) -> Operation:
    """A new extraction that reads the file again; 409 while one is pending or
    processing. A metadata step still under way is cancelled: it would describe the
    text about to be replaced."""
    document, current = await get_document(db, caller.tenant_id, document_id, lock=True)
    if current is not None and current.state in ACTIVE:
        if current.kind == EXTRACT_KIND:
            raise ExtractionRunning()
        await operations.cancel_operation(db, caller, current.id, retention=retention)
    op = await operations.create_operation(
        db,
        registry,
        tenant_id=caller.tenant_id,
        principal_id=caller.principal_id,
        kind=EXTRACT_KIND,
        params=ExtractParams(document_id=document.id, force=True),
        target=target,
        concurrency_key=content_key(document.sha256),
    )
    await _move_to(db, document.id, Phase.extraction, op.id)
    return op


async def regenerate_metadata(
    db: AsyncSession,
    registry: Registry,
    caller: Caller,
    document_id: uuid.UUID,
    *,
    target: str,
) -> Operation:
    """A metadata operation for an extracted document (the one already pending or
    processing, if any)."""
    document, current = await get_document(db, caller.tenant_id, document_id, lock=True)
    if current is not None and current.state in ACTIVE and current.kind == EXTRACT_KIND:
        raise ExtractionRunning()
    if document.extracted_at is None:
        raise DocumentNotExtracted()
    op = await operations.create_operation(
        db,
        registry,
        tenant_id=caller.tenant_id,
        principal_id=caller.principal_id,
        kind=METADATA_KIND,
        params=MetadataParams(document_id=document.id),
        target=target,
        dedup_key=metadata_dedup_key(document.id),
    )
    await _move_to(db, document.id, Phase.metadata, op.id)
    return op


async def delete_document(
    db: AsyncSession, caller: Caller, document_id: uuid.UUID, *, retention: timedelta
) -> str:
    """Delete the document and its text, cancelling a step under way; answer the key
    of its file, to remove once this transaction has committed."""
    document, current = await get_document(db, caller.tenant_id, document_id, lock=True)
    if current is not None and current.state in ACTIVE:
        await operations.cancel_operation(db, caller, current.id, retention=retention)
    await db.execute(delete(Document).where(Document.id == document.id))
    return document.storage_key


async def _move_to(
    db: AsyncSession, document_id: uuid.UUID, phase: Phase, operation_id: uuid.UUID
) -> None:
    await db.execute(
        update(Document)
        .where(Document.id == document_id)
        .values(phase=phase.value, current_operation_id=operation_id, updated_at=func.now())
    )
