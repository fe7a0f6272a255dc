"""Uploaded documents, their extracted text, and the per-tenant monthly upload counts."""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from backend.db import Base
from backend.ids import new_id


class Phase(enum.StrEnum):
    """Which step of the chain a document is in; its status also depends on the state
    of its current operation (see ``service.document_status``)."""

    extraction = "extraction"
    metadata = "metadata"
    ready = "ready"


class DocumentStatus(enum.StrEnum):
    uploaded = "uploaded"
    extracting = "extracting"
    extracted = "extracted"
    describing = "describing"
    ready = "ready"
    failed = "failed"


_PHASES = ", ".join(f"'{p.value}'" for p in Phase)


class Document(Base):
    """One upload: the stored file, what was read from it, and its AI metadata."""

    __tablename__ = "documents"
    __table_args__ = (
        CheckConstraint(f"phase IN ({_PHASES})", name="phase"),
        CheckConstraint("size_bytes >= 0", name="size_bytes"),
        # Serves finding an earlier upload of the same bytes, whose text is reused.
        Index("ix_documents_tenant_id_sha256", "tenant_id", "sha256"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    principal_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("principals.id", ondelete="SET NULL")
    )
    filename: Mapped[str] = mapped_column(String(255))
    media_type: Mapped[str] = mapped_column(String(100))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(300))
    phase: Mapped[str] = mapped_column(String(20))
    # The operation of the current step; the operation is pruned after its retention.
    current_operation_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("operations.id", ondelete="SET NULL"), index=True
    )
    # What extraction read.
    page_count: Mapped[int | None] = mapped_column(Integer)
    text_length: Mapped[int | None] = mapped_column(Integer)
    extraction_method: Mapped[str | None] = mapped_column(String(20))
    reused_from: Mapped[uuid.UUID | None]
    extracted_at: Mapped[datetime | None]
    # What the model made of the text.
    display_name: Mapped[str | None] = mapped_column(Text)
    tags: Mapped[list[str] | None] = mapped_column(JSONB)
    summary: Mapped[str | None] = mapped_column(Text)
    language: Mapped[str | None] = mapped_column(String(35))
    generated_by: Mapped[dict[str, object] | None] = mapped_column(JSONB)
    described_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())

    @property
    def current_phase(self) -> Phase:
        return Phase(self.phase)


class DocumentText(Base):
    """The text extracted from a document, kept apart so reading a document stays cheap."""

    __tablename__ = "document_texts"

    document_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("documents.id", ondelete="CASCADE"), primary_key=True
    )
    text: Mapped[str] = mapped_column(Text)


class DocumentUploadCount(Base):
    """Uploads a tenant made in a calendar month (UTC), for the monthly quota."""

    __tablename__ = "document_upload_counts"
    __table_args__ = (CheckConstraint("uploads >= 0", name="uploads"),)

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    month: Mapped[date] = mapped_column(Date, primary_key=True)
    uploads: Mapped[int] = mapped_column(Integer)
