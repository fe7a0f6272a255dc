"""HTTP for webhook endpoints: create, list, read, change, delete, rotate the secret, and the
delivery log. Changing endpoints takes an admin key: an endpoint receives the results
of every operation of the tenant."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse

from backend.auth.dependencies import CurrentCaller, DbSession
from backend.auth.models import Role
from backend.auth.service import Caller
from backend.errors import AppError, problem_responses
from backend.operations import webhooks
from backend.operations.delivery_models import WebhookEndpoint
from backend.operations.idempotency import Idempotent, remember
from backend.operations.webhook_schemas import (
    WebhookDeliveryList,
    WebhookDeliveryOut,
    WebhookEndpointCreate,
    WebhookEndpointCreated,
    WebhookEndpointList,
    WebhookEndpointOut,
    WebhookEndpointUpdate,
    WebhookSecret,
)
from backend.urls import url_for

router = APIRouter(prefix="/webhook-endpoints", tags=["webhooks"])


class AdminRequired(AppError):
    status = 403
    code = "ADMIN_REQUIRED"
    title = "Admin key required"


async def _admin(caller: CurrentCaller) -> Caller:
    if caller.role is not Role.admin:
        raise AdminRequired(
            "Managing webhook endpoints takes an admin API key: an endpoint receives the "
            "results of every operation of your tenant."
        )
    return caller


AdminCaller = Annotated[Caller, Depends(_admin)]


def _out(endpoint: WebhookEndpoint) -> WebhookEndpointOut:
    return WebhookEndpointOut.model_validate(endpoint, from_attributes=True)


@router.post(
    "",
    name="create_webhook_endpoint",
    summary="Create a webhook endpoint",
    status_code=201,
    response_model=WebhookEndpointCreated,
    responses={
        201: {"headers": {"Location": {"schema": {"type": "string", "format": "uri"}}}},
        **problem_responses(401, 403, 409, 422),
    },
)
async def create_webhook_endpoint(
    body: WebhookEndpointCreate,
    request: Request,
    session: DbSession,
    caller: AdminCaller,
    _idempotency: Idempotent,
) -> JSONResponse:
    """Deliveries start with the next operation that finishes. The answer holds the
    signing secret: it is never shown again (rotate it if lost)."""
    settings = request.app.state.settings
    endpoint = await webhooks.create_endpoint(session, settings, caller.tenant_id, body)
    created = WebhookEndpointCreated.model_validate(
        {**_out(endpoint).model_dump(), "secret": endpoint.secret}
    )
    location = url_for(request, "get_webhook_endpoint", endpoint_id=endpoint.id)
    response = JSONResponse(
        created.model_dump(mode="json"), status_code=201, headers={"Location": location}
    )
    remember(request, response)
    return response


@router.get(
    "",
    name="list_webhook_endpoints",
    summary="List webhook endpoints",
    response_model=WebhookEndpointList,
    responses=problem_responses(401),
)
async def list_webhook_endpoints(session: DbSession, caller: CurrentCaller) -> WebhookEndpointList:
    endpoints = await webhooks.list_endpoints(session, caller.tenant_id)
    return WebhookEndpointList(endpoints=[_out(e) for e in endpoints])


@router.get(
    "/{endpoint_id}",
    name="get_webhook_endpoint",
    summary="Get a webhook endpoint",
    response_model=WebhookEndpointOut,
    responses=problem_responses(401, 404, 422),
)
async def get_webhook_endpoint(
    endpoint_id: uuid.UUID, session: DbSession, caller: CurrentCaller
) -> WebhookEndpointOut:
    return _out(await webhooks.get_endpoint(session, caller.tenant_id, endpoint_id))


@router.patch(
    "/{endpoint_id}",
    name="update_webhook_endpoint",
    summary="Change or re-enable a webhook endpoint",
    response_model=WebhookEndpointOut,
    responses=problem_responses(401, 403, 404, 422),
)
async def update_webhook_endpoint(
    endpoint_id: uuid.UUID,
    body: WebhookEndpointUpdate,
    request: Request,
    session: DbSession,
    caller: AdminCaller,
) -> WebhookEndpointOut:
    """Change the URL, the event types or the description, or turn deliveries back on
    (`"enabled": true`) after the endpoint answered 410 Gone and was disabled."""
    endpoint = await webhooks.update_endpoint(
        session, request.app.state.settings, caller.tenant_id, endpoint_id, body
    )
    return _out(endpoint)


@router.delete(
    "/{endpoint_id}",
    name="delete_webhook_endpoint",
    summary="Delete a webhook endpoint",
    status_code=204,
    responses=problem_responses(401, 403, 404, 422),
)
async def delete_webhook_endpoint(
    endpoint_id: uuid.UUID, session: DbSession, caller: AdminCaller
) -> Response:
    """Stops deliveries to it at once (pending ones fail) and forgets its log."""
    await webhooks.delete_endpoint(session, caller.tenant_id, endpoint_id)
    return Response(status_code=204)


@router.post(
    "/{endpoint_id}/rotate-secret",
    name="rotate_webhook_secret",
    summary="Rotate a webhook endpoint's secret",
    response_model=WebhookSecret,
    responses=problem_responses(401, 403, 404, 422),
)
async def rotate_webhook_secret(
    endpoint_id: uuid.UUID, request: Request, session: DbSession, caller: AdminCaller
) -> WebhookSecret:
    """A new secret, shown once. For the overlap period (24 h by default) deliveries
    carry two signatures, one per secret, so the receiver can switch at its pace."""
    endpoint = await webhooks.rotate_secret(
        session, request.app.state.settings, caller.tenant_id, endpoint_id
    )
    assert endpoint.previous_secret_expires_at is not None
    return WebhookSecret(
        secret=endpoint.secret, previous_secret_expires_at=endpoint.previous_secret_expires_at
    )


@router.get(
    "/{endpoint_id}/deliveries",
    name="list_webhook_deliveries",
    summary="List an endpoint's delivery attempts",
    response_model=WebhookDeliveryList,
    responses=problem_responses(401, 404, 422),
)
async def list_webhook_deliveries(
    endpoint_id: uuid.UUID,
    session: DbSession,
    caller: CurrentCaller,
    page_size: Annotated[int, Query(ge=1, le=100)] = 20,
    page_token: Annotated[str | None, Query(max_length=200)] = None,
) -> WebhookDeliveryList:
    """Every attempt, newest first: status code, latency and error of each."""
    rows, token = await webhooks.list_deliveries(
        session, caller.tenant_id, endpoint_id, page_size=page_size, page_token=page_token
    )
    return WebhookDeliveryList(
        deliveries=[WebhookDeliveryOut.model_validate(r, from_attributes=True) for r in rows],
        next_page_token=token,
    )
