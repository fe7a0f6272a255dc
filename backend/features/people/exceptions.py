"""Errors of the people feature, and the admin rule the feedback features share."""

from __future__ import annotations

from backend.errors import AppError, Conflict, NotFound


class AdminRequired(AppError):
    status = 403
    code = "ADMIN_REQUIRED"
    title = "Admin key required"


class PersonNotFound(NotFound):
    code = "PERSON_NOT_FOUND"
    title = "Person not found"

    def __init__(self) -> None:
        super().__init__(
            "No person with this id exists in your tenant. Create one with POST /api/v1/people."
        )


class PersonExists(Conflict):
    code = "PERSON_EXISTS"
    title = "Person already exists"

    def __init__(self) -> None:
        super().__init__(
            "A person with this external_id already exists in your tenant. Look them up with "
            "GET /api/v1/people?external_id=…"
        )


class PrincipalNotFound(NotFound):
    code = "PRINCIPAL_NOT_FOUND"
    title = "Principal not found"

    def __init__(self) -> None:
        super().__init__(
            "No principal with this id exists in your tenant. `opsapi admin list-keys` shows "
            "the principal of each API key."
        )


class PrincipalAlreadyLinked(Conflict):
    code = "PRINCIPAL_ALREADY_LINKED"
    title = "Principal linked to another person"

    def __init__(self) -> None:
        super().__init__(
            "This principal already acts as another person. Unlink it there first "
            "(DELETE /api/v1/people/{id}/principals/{principal_id})."
        )
