"""HTTP for documents: upload, read, text, file, events, retries, delete."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Header, Request, Response
from fastapi.responses import JSONResponse
from sse_starlette import EventSourceResponse

from backend.auth.dependencies import CurrentCaller, DbSession, WritingCaller
from backend.errors import problem_responses
from backend.features.documents import service, stream
from backend.features.documents.exceptions import DocumentNotFound
from backend.features.documents.models import Document, DocumentStatus
from backend.features.documents.presentation import document_links, document_out
from backend.features.documents.schemas import DocumentOut, DocumentTextOut
from backend.features.documents.storage import DocumentStorage, LocalStorage
from backend.features.documents.upload import receive
from backend.ids import new_id
from backend.operations.http import accepted, accepted_responses, operation_url, to_schema
from backend.operations.idempotency import remember
from backend.operations.models import Operation
from backend.operations.schemas import OperationOut
from backend.urls import url_for

router = APIRouter(prefix="/documents", tags=["documents"])

NOT_FOUND = "DOCUMENT_NOT_FOUND: no document with this id exists for your tenant."

# What a stored file is served as: only the types uploads are accepted as, none of
# which a browser runs; anything else is served as bytes to download.
SERVED_TYPES = {
    "text/plain": "text/plain; charset=utf-8",
    "text/markdown": "text/plain; charset=utf-8",
    "application/pdf": "application/pdf",
    "image/png": "image/png",
    "image/jpeg": "image/jpeg",
    "image/tiff": "image/tiff",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": (
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    ),
}

UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": "The document: plain text or Markdown (UTF-8), "
                            "PDF, PNG, JPEG, TIFF or DOCX, told by its content.",
                        }
                    },
                }
            }
        },
    }
}

EVENTS_DESCRIPTION = """\
A `text/event-stream` following the document's whole chain. Each operation event is
sent with its type (`created`, `status`, `progress`, …) and its data plus
`operation_id` and `kind` (`document.extract`, then `document.metadata`); its `id` is
`{operation_id}.{sequence}`. Extraction reports `progress` page by page. The stream ends
with a `document` event whose data is the Document (status `ready` or `failed`) and
whose id ends in `.end`. Resume with `Last-Event-ID`.
"""


def _problems(*statuses: int, **described: str) -> dict[int | str, dict[str, Any]]:
    responses = problem_responses(*statuses)
    for key, description in described.items():
        responses[int(key.removeprefix("e"))] = {
            **responses.get(int(key.removeprefix("e")), {}),
            "description": description,
        }
    return responses


def storage_of(request: Request) -> DocumentStorage:
    """The process's document storage, made on first use."""
    state = request.app.state
    found: DocumentStorage | None = getattr(state, "document_storage", None)
    if found is None:
        settings = state.settings
        found = LocalStorage(settings.document_storage_path, fsync=settings.documents.fsync)
        state.document_storage = found
    return found


@router.post(
    "",
    name="upload_document",
    summary="Upload a document",
    status_code=202,
    response_model=DocumentOut,
    openapi_extra=UPLOAD_BODY,
    responses={
        202: {
            "description": "Accepted: the document, with its extraction operation. "
            "Location is the operation.",
            "headers": {
                "Location": {"schema": {"type": "string", "format": "uri"}},
                "Retry-After": {"schema": {"type": "integer"}},
            },
        },
        **_problems(
            400,
            401,
            403,
            413,
            415,
            422,
            429,
            e400="INVALID_UPLOAD: not multipart/form-data, or no `file` field, or empty.",
            e413="UPLOAD_TOO_LARGE: the file is larger than the configured limit.",
            e415="UNSUPPORTED_MEDIA_TYPE: the content is not a supported type.",
            e429="QUOTA_EXCEEDED: the tenant's monthly uploads are spent; see resets_at.",
        ),
    },
)
async def upload_document(
    request: Request,
    db: DbSession,
    caller: WritingCaller,
    content_type: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> JSONResponse:
    """Stores the file and answers 202 at once with the document and its
    `document.extract` operation; text extraction, then metadata, run in the
    background. Follow the document's `/events` stream, or poll the document."""
    settings = request.app.state.settings.documents
    storage = storage_of(request)
    received = await receive(
        request.stream(), content_type, storage, max_bytes=settings.max_upload_bytes
    )
    document_id = new_id()
    key = service.storage_key(caller.tenant_id, document_id)
    try:
        await storage.publish(received.staged, key)
    except BaseException:
        received.staged.discard()
        raise
    target = url_for(request, "get_document", document_id=document_id)
    try:
        created = await service.create_document(
            db,
            request.app.state.registry,
            caller,
            received,
            document_id=document_id,
            key=key,
            target=target,
            quota=settings.monthly_upload_quota,
        )
    except BaseException:
        await storage.delete(key)
        raise
    op = created.operation
    body = DocumentOut(
        id=created.id,
        filename=created.filename,
        media_type=created.media_type,
        size_bytes=created.size_bytes,
        sha256=created.sha256,
        status=DocumentStatus.uploaded,
        operation=to_schema(request, op),
        created_at=created.created_at,
        links=document_links(request, created.id),
    )
    response = JSONResponse(
        body.model_dump(mode="json"),
        status_code=202,
        headers={"Location": operation_url(request, op), "Retry-After": "1"},
    )
    remember(request, response)
    return response


@router.get(
    "/{document_id}",
    name="get_document",
    summary="Get a document",
    response_model=DocumentOut,
    responses=_problems(401, 404, 422, e404=NOT_FOUND),
)
async def get_document(
    document_id: uuid.UUID, request: Request, db: DbSession, caller: CurrentCaller
) -> DocumentOut:
    """The document's status, metadata, page count, text length and current operation."""
    document, op = await service.get_document(db, caller.tenant_id, document_id)
    return document_out(request, document, op)


@router.get(
    "/{document_id}/text",
    name="get_document_text",
    summary="Get a document's extracted text",
    response_model=DocumentTextOut,
    responses=_problems(
        401, 404, 422, e404=NOT_FOUND + " DOCUMENT_TEXT_NOT_FOUND: not extracted yet."
    ),
)
async def get_document_text(
    document_id: uuid.UUID, db: DbSession, caller: CurrentCaller
) -> DocumentTextOut:
    """The text extraction read from the file."""
    document, _ = await service.get_document(db, caller.tenant_id, document_id)
    content = await service.get_text(db, caller.tenant_id, document_id)
    return DocumentTextOut(
        document_id=document.id,
        text=content,
        text_length=len(content),
        page_count=document.page_count,
        extraction_method=document.extraction_method,
    )


@router.get(
    "/{document_id}/file",
    name="get_document_file",
    summary="Download the uploaded file",
    response_class=Response,
    responses={
        200: {
            "description": "The file as uploaded, as an attachment.",
            "content": {"application/octet-stream": {"schema": {"type": "string"}}},
        },
        **_problems(401, 404, 422, e404=NOT_FOUND),
    },
)
async def get_document_file(
    document_id: uuid.UUID, request: Request, db: DbSession, caller: CurrentCaller
) -> Response:
    """The bytes as uploaded, with the type read from them (never one a browser would
    run), as an attachment."""
    from fastapi.responses import FileResponse

    document, _ = await service.get_document(db, caller.tenant_id, document_id)
    try:
        path = storage_of(request).local_path(document.storage_key)
    except FileNotFoundError:
        raise DocumentNotFound() from None
    return FileResponse(
        path,
        media_type=SERVED_TYPES.get(document.media_type, "application/octet-stream"),
        filename=document.filename,
        headers={"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "sandbox"},
    )


@router.get(
    "/{document_id}/events",
    name="stream_document_events",
    summary="Follow a document's extraction and metadata (server-sent events)",
    response_class=EventSourceResponse,
    responses={
        200: {
            "description": EVENTS_DESCRIPTION,
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        },
        204: {"description": "A reconnection after the final `document` event."},
        **_problems(401, 404, 422, e404=NOT_FOUND),
    },
)
async def stream_document_events(
    document_id: uuid.UUID,
    request: Request,
    caller: CurrentCaller,
    last_event_id: Annotated[
        str | None,
        Header(
            alias="Last-Event-ID",
            description="Resume after this event id (sent by EventSource on reconnection).",
        ),
    ] = None,
) -> Response:
    """Extraction progress page by page, then metadata, then the document once ready
    (or failed), in order; resumable."""
    position = stream.parse_position(last_event_id)
    state = request.app.state
    async with state.sessionmaker() as db:
        start, after = await stream.starting_point(db, caller.tenant_id, document_id, position)
    if position is not None and position.ended:
        return Response(status_code=204)
    settings = state.settings.events

    def render(document: Document, op: Operation | None) -> str:
        return document_out(request, document, op).model_dump_json()

    events = stream.follow(
        request,
        caller.tenant_id,
        document_id,
        start,
        after,
        render,
        lifetime=settings.max_connection_seconds,
        retry_ms=settings.retry_ms,
    )
    return EventSourceResponse(events, ping=settings.ping_seconds)


@router.post(
    "/{document_id}/extract",
    name="retry_document_extraction",
    summary="Extract a document's text again",
    status_code=202,
    response_model=OperationOut,
    responses={
        **accepted_responses(),
        **_problems(
            401, 403, 404, 409, 422, e404=NOT_FOUND, e409="EXTRACTION_RUNNING: wait for it."
        ),
    },
)
async def retry_document_extraction(
    document_id: uuid.UUID, request: Request, db: DbSession, caller: WritingCaller
) -> JSONResponse:
    """Reads the file again (after a failure, or once OCR is installed); metadata
    follows as after an upload."""
    op = await service.retry_extraction(
        db,
        request.app.state.registry,
        caller,
        document_id,
        target=url_for(request, "get_document", document_id=document_id),
        retention=_retention(request),
    )
    return accepted(request, op)


@router.post(
    "/{document_id}/metadata",
    name="regenerate_document_metadata",
    summary="Generate a document's metadata again",
    status_code=202,
    response_model=OperationOut,
    responses={
        **accepted_responses(),
        **_problems(
            401,
            403,
            404,
            409,
            422,
            e404=NOT_FOUND,
            e409="EXTRACTION_RUNNING, or DOCUMENT_NOT_EXTRACTED: no text to describe yet.",
        ),
    },
)
async def regenerate_document_metadata(
    document_id: uuid.UUID, request: Request, db: DbSession, caller: WritingCaller
) -> JSONResponse:
    """A new name, tags, summary and language from the extracted text (the metadata
    operation already pending or processing, if any)."""
    op = await service.regenerate_metadata(
        db,
        request.app.state.registry,
        caller,
        document_id,
        target=url_for(request, "get_document", document_id=document_id),
    )
    return accepted(request, op)


@router.delete(
    "/{document_id}",
    name="delete_document",
    summary="Delete a document",
    status_code=204,
    response_class=Response,
    responses=_problems(401, 403, 404, 422, e404=NOT_FOUND),
)
async def delete_document(
    document_id: uuid.UUID,
    request: Request,
    db: DbSession,
    caller: WritingCaller,
    background: BackgroundTasks,
) -> Response:
    """Removes the document, its text and its stored file; a step under way is
    cancelled."""
    key = await service.delete_document(db, caller, document_id, retention=_retention(request))
    # After the response, so after the deletion committed: a failed commit keeps the file.
    background.add_task(storage_of(request).delete, key)
    return Response(status_code=204)


def _retention(request: Request) -> timedelta:
    return timedelta(seconds=request.app.state.settings.operations.retention_seconds)
