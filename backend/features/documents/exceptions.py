"""Errors of documents, each with a stable code clients can rely on."""

from __future__ import annotations

from datetime import datetime

from backend.errors import AppError, Conflict, NotFound


class DocumentNotFound(NotFound):
    code = "DOCUMENT_NOT_FOUND"
    title = "Document not found"

    def __init__(self) -> None:
        super().__init__(
            "No document with this id exists for your tenant. It may have been deleted."
        )


class DocumentTextNotFound(NotFound):
    code = "DOCUMENT_TEXT_NOT_FOUND"
    title = "Document text not found"

    def __init__(self) -> None:
        super().__init__(
            "No text has been extracted from this document yet. Follow its /events stream "
            "(or its operation) until it is extracted, or retry the extraction if it failed."
        )


class UploadTooLarge(AppError):
    status = 413
    code = "UPLOAD_TOO_LARGE"
    title = "Upload too large"

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"The file is larger than the {limit:,} bytes an upload may carry. Upload a "
            "smaller file, or split the document.",
            extra={"max_bytes": limit},
        )


class UnsupportedMediaType(AppError):
    status = 415
    code = "UNSUPPORTED_MEDIA_TYPE"
    title = "Unsupported file type"

    def __init__(self) -> None:
        super().__init__(
            "The file's content is not a supported type. Upload plain text or Markdown "
            "(UTF-8), a PDF, a PNG, JPEG or TIFF image, or a Word document (.docx). The "
            "type is read from the content itself, not from the file name or header."
        )


class InvalidUpload(AppError):
    status = 400
    code = "INVALID_UPLOAD"
    title = "Invalid upload"

    def __init__(self, detail: str) -> None:
        super().__init__(
            detail + " Send the file as multipart/form-data in a field named `file`, e.g. "
            "`curl -F file=@report.pdf …`."
        )


class QuotaExceeded(AppError):
    status = 429
    code = "QUOTA_EXCEEDED"
    title = "Monthly upload quota exceeded"

    def __init__(self, quota: int, resets_at: datetime, retry_after: int) -> None:
        super().__init__(
            f"Your tenant has used its {quota:,} uploads for this month. The quota resets "
            f"at {resets_at.isoformat()}; upload again then, or ask an operator to raise it.",
            headers={"Retry-After": str(retry_after)},
            extra={"quota": quota, "resets_at": resets_at.isoformat()},
        )


class ExtractionRunning(Conflict):
    code = "EXTRACTION_RUNNING"
    title = "Extraction running"

    def __init__(self) -> None:
        super().__init__(
            "Text is being extracted from this document right now. Follow its /events "
            "stream and retry once the extraction has finished."
        )


class DocumentNotExtracted(Conflict):
    code = "DOCUMENT_NOT_EXTRACTED"
    title = "Document not extracted"

    def __init__(self) -> None:
        super().__init__(
            "Metadata is made from a document's text, and none has been extracted yet. "
            "Wait for the extraction, or retry it (POST to the document's /extract link)."
        )
