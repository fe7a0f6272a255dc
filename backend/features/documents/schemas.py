"""Documents as clients see them, and the parameters and results of their operations."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field

from backend.features.documents.models import DocumentStatus
from backend.operations.schemas import OperationOut


class ExtractParams(BaseModel):
    document_id: uuid.UUID
    force: bool = Field(
        default=False,
        description="Read the file even when an earlier upload of the same bytes was read.",
    )


class MetadataParams(BaseModel):
    document_id: uuid.UUID


class ExtractionResult(BaseModel):
    document_id: uuid.UUID
    method: str = Field(description="How the text was read: text, pdf, ocr or docx.")
    page_count: int | None
    text_length: int = Field(description="Characters of text extracted.")
    reused_from: uuid.UUID | None = Field(
        default=None,
        description="The earlier upload of the same bytes whose text was reused, if any.",
    )


class GeneratedBy(BaseModel):
    provider: str
    model: str
    prompt: str
    prompt_version: int
    prompt_digest: str


class DocumentMetadataOut(BaseModel):
    display_name: str
    tags: list[str]
    summary: str
    language: str = Field(description="ISO 639-1 code; `und` when it could not be told.")
    generated_by: GeneratedBy


class MetadataResult(DocumentMetadataOut):
    document_id: uuid.UUID


class DocumentError(BaseModel):
    code: str = Field(examples=["EXTRACTION_FAILED"])
    message: str


class DocumentLinks(BaseModel):
    self: str
    text: str
    file: str
    events: str
    extract: str
    metadata: str


class DocumentOut(BaseModel):
    id: uuid.UUID
    filename: str = Field(description="The uploaded file's name, without folders.")
    media_type: str = Field(description="The type read from the content itself.")
    size_bytes: int
    sha256: str
    status: DocumentStatus = Field(
        description="uploaded → extracting → extracted → describing → ready, or failed."
    )
    page_count: int | None = Field(default=None, description="Pages of a PDF or an image.")
    text_length: int | None = Field(default=None, description="Characters of extracted text.")
    extraction_method: str | None = None
    reused_from: uuid.UUID | None = None
    metadata: DocumentMetadataOut | None = None
    error: DocumentError | None = Field(
        default=None, description="Why the current step failed (status failed)."
    )
    operation: OperationOut | None = Field(
        default=None, description="The operation of the current step."
    )
    created_at: datetime
    extracted_at: datetime | None = None
    described_at: datetime | None = None
    links: DocumentLinks


class DocumentTextOut(BaseModel):
    document_id: uuid.UUID
    text: str
    text_length: int
    page_count: int | None
    extraction_method: str | None
