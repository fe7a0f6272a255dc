"""HTTP for people: create, list, read, and link principals (admin keys only)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse

from backend.auth.dependencies import DbSession
from backend.errors import problem_responses
from backend.features.people import service
from backend.features.people.access import AdminCaller
from backend.features.people.models import Person
from backend.features.people.schemas import PersonCreate, PersonList, PersonOut, PrincipalLink
from backend.operations.idempotency import Idempotent, remember
from backend.urls import url_for

router = APIRouter(prefix="/people", tags=["people"])


def person_out(person: Person, principal_ids: list[uuid.UUID]) -> PersonOut:
    return PersonOut(
        id=person.id,
        name=person.name,
        email=person.email,
        external_id=person.external_id,
        principal_ids=principal_ids,
        created_at=person.created_at,
    )


async def _render(session: DbSession, person: Person) -> PersonOut:
    linked = await service.principals_of(session, [person.id])
    return person_out(person, linked.get(person.id, []))


@router.post(
    "",
    name="create_person",
    summary="Create a person",
    status_code=201,
    response_model=PersonOut,
    responses={
        201: {"headers": {"Location": {"schema": {"type": "string", "format": "uri"}}}},
        **problem_responses(401, 403, 409, 422),
    },
)
async def create_person(
    body: PersonCreate,
    request: Request,
    session: DbSession,
    caller: AdminCaller,
    _idempotency: Idempotent,
) -> JSONResponse:
    """Someone feedback can be about: the subject of a review cycle, a student of an
    evaluation. `external_id` (your system's id) is unique in the tenant: 409 if taken."""
    person = await service.create_person(session, caller.tenant_id, body)
    location = url_for(request, "get_person", person_id=person.id)
    response = JSONResponse(
        person_out(person, []).model_dump(mode="json"),
        status_code=201,
        headers={"Location": location},
    )
    remember(request, response)
    return response


@router.get(
    "",
    name="list_people",
    summary="List people",
    response_model=PersonList,
    responses=problem_responses(401, 403, 422),
)
async def list_people(
    session: DbSession,
    caller: AdminCaller,
    external_id: Annotated[
        str | None, Query(max_length=200, description="Only the person with this id.")
    ] = None,
    page_size: Annotated[int, Query(ge=1, le=100)] = 20,
    page_token: Annotated[str | None, Query(max_length=200)] = None,
) -> PersonList:
    """Your tenant's people, newest first, one page at a time."""
    people, token = await service.list_people(
        session,
        caller.tenant_id,
        external_id=external_id,
        page_size=page_size,
        page_token=page_token,
    )
    linked = await service.principals_of(session, [p.id for p in people])
    return PersonList(
        people=[person_out(p, linked.get(p.id, [])) for p in people], next_page_token=token
    )


@router.get(
    "/{person_id}",
    name="get_person",
    summary="Get a person",
    response_model=PersonOut,
    responses=problem_responses(401, 403, 404, 422),
)
async def get_person(person_id: uuid.UUID, session: DbSession, caller: AdminCaller) -> PersonOut:
    return await _render(session, await service.get_person(session, caller.tenant_id, person_id))


@router.post(
    "/{person_id}/principals",
    name="link_principal",
    summary="Let a principal act as a person",
    response_model=PersonOut,
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def link_principal(
    person_id: uuid.UUID, body: PrincipalLink, session: DbSession, caller: AdminCaller
) -> PersonOut:
    """Link the principal behind an API key to the person: with that key, a student
    reads their own evaluation summaries (and nobody else's). A principal acts as at
    most one person (409 if linked elsewhere); linking it again changes nothing."""
    person = await service.link_principal(session, caller.tenant_id, person_id, body.principal_id)
    return await _render(session, person)


@router.delete(
    "/{person_id}/principals/{principal_id}",
    name="unlink_principal",
    summary="Stop a principal acting as a person",
    status_code=204,
    responses=problem_responses(401, 403, 404, 422),
)
async def unlink_principal(
    person_id: uuid.UUID, principal_id: uuid.UUID, session: DbSession, caller: AdminCaller
) -> Response:
    await service.unlink_principal(session, caller.tenant_id, person_id, principal_id)
    return Response(status_code=204)
