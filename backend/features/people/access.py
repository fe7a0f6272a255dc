"""Who may do what in the people-based features: tenant admins manage everything; a
principal linked to a person may read what is about that person."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth.dependencies import CurrentCaller
from backend.auth.models import Role
from backend.auth.service import Caller
from backend.features.people.exceptions import AdminRequired
from backend.features.people.models import PersonPrincipal


def is_admin(caller: Caller) -> bool:
    return caller.role is Role.admin


async def _admin(caller: CurrentCaller) -> Caller:
    if not is_admin(caller):
        raise AdminRequired(
            "This takes an admin API key (a manager or a teacher of the tenant). Ask an "
            "administrator, or create one with `opsapi admin create-key --role admin`."
        )
    return caller


AdminCaller = Annotated[Caller, Depends(_admin)]


async def person_of_principal(session: AsyncSession, principal_id: uuid.UUID) -> uuid.UUID | None:
    """The person a principal acts as, if it is linked to one (primary key lookup)."""
    found: uuid.UUID | None = await session.scalar(
        select(PersonPrincipal.person_id).where(PersonPrincipal.principal_id == principal_id)
    )
    return found
