"""People: create, read, list, and link principals to them."""

from __future__ import annotations

import uuid
from collections import defaultdict

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth.models import Principal
from backend.features.people.exceptions import (
    PersonExists,
    PersonNotFound,
    PrincipalAlreadyLinked,
    PrincipalNotFound,
)
from backend.features.people.models import Person, PersonPrincipal
from backend.features.people.schemas import PersonCreate
from backend.ids import new_id
from backend.operations.service import decode_page_token, encode_page_token


async def create_person(session: AsyncSession, tenant_id: uuid.UUID, body: PersonCreate) -> Person:
    """A new person; an external id already used in the tenant is a conflict."""
    stmt = insert(Person).values(
        id=new_id(),
        tenant_id=tenant_id,
        name=body.name,
        email=body.email,
        external_id=body.external_id,
    )
    if body.external_id is not None:
        # uq_people_external_id settles two racing creates: one inserts, one conflicts.
        stmt = stmt.on_conflict_do_nothing(
            index_elements=["tenant_id", "external_id"],
            index_where=Person.external_id.is_not(None),
        )
    created = await session.scalar(stmt.returning(Person.id))
    if created is None:
        raise PersonExists()
    return await get_person(session, tenant_id, created)


async def get_person(session: AsyncSession, tenant_id: uuid.UUID, person_id: uuid.UUID) -> Person:
    person = await session.scalar(
        select(Person).where(Person.id == person_id, Person.tenant_id == tenant_id)
    )
    if person is None:
        raise PersonNotFound()
    return person


async def list_people(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    *,
    external_id: str | None,
    page_size: int,
    page_token: str | None,
) -> tuple[list[Person], str | None]:
    """A page of the tenant's people, newest first (served by ix_people_tenant_id)."""
    stmt = select(Person).where(Person.tenant_id == tenant_id)
    if external_id is not None:
        stmt = stmt.where(Person.external_id == external_id)
    if page_token is not None:
        stmt = stmt.where(Person.id < decode_page_token(page_token))
    rows = list((await session.scalars(stmt.order_by(Person.id.desc()).limit(page_size + 1))).all())
    next_token = encode_page_token(rows[page_size - 1].id) if len(rows) > page_size else None
    return rows[:page_size], next_token


async def principals_of(
    session: AsyncSession, person_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[uuid.UUID]]:
    """The principals linked to each of ``person_ids``."""
    rows = (
        await session.execute(
            select(PersonPrincipal.person_id, PersonPrincipal.principal_id)
            .where(PersonPrincipal.person_id.in_(person_ids))
            .order_by(PersonPrincipal.created_at)
        )
    ).all()
    linked: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
    for person_id, principal_id in rows:
        linked[person_id].append(principal_id)
    return linked


async def link_principal(
    session: AsyncSession, tenant_id: uuid.UUID, person_id: uuid.UUID, principal_id: uuid.UUID
) -> Person:
    """Let ``principal_id`` act as the person. Linking it again is harmless; a principal
    already acting as someone else is a conflict."""
    person = await get_person(session, tenant_id, person_id)
    owner = await session.scalar(select(Principal.tenant_id).where(Principal.id == principal_id))
    if owner != tenant_id:
        raise PrincipalNotFound()
    await session.execute(
        insert(PersonPrincipal)
        .values(principal_id=principal_id, person_id=person.id)
        .on_conflict_do_nothing(index_elements=["principal_id"])
    )
    linked_to = await session.scalar(
        select(PersonPrincipal.person_id).where(PersonPrincipal.principal_id == principal_id)
    )
    if linked_to != person.id:
        raise PrincipalAlreadyLinked()
    return person


async def unlink_principal(
    session: AsyncSession, tenant_id: uuid.UUID, person_id: uuid.UUID, principal_id: uuid.UUID
) -> None:
    """The principal no longer acts as the person (unlinking twice is harmless)."""
    person = await get_person(session, tenant_id, person_id)
    await session.execute(
        delete(PersonPrincipal).where(
            PersonPrincipal.person_id == person.id, PersonPrincipal.principal_id == principal_id
        )
    )
