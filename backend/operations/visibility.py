"""Which operations a caller sees: its tenant's, except the private kinds' (registered
with ``private=True``), which only the principal who started them sees."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from fastapi import Request
from sqlalchemy import ColumnElement, and_, or_

from backend.auth.service import Caller
from backend.operations.models import Operation


@dataclass(frozen=True)
class Reader:
    """Who reads operations: a tenant, and the principal whose private operations it
    may see as well."""

    tenant_id: uuid.UUID
    principal_id: uuid.UUID | None = None
    private_kinds: frozenset[str] = frozenset()

    def sees(self) -> ColumnElement[bool]:
        """The condition on `operations` rows this reader sees."""
        in_tenant = Operation.tenant_id == self.tenant_id
        if not self.private_kinds:
            return in_tenant
        return and_(
            in_tenant,
            or_(
                Operation.kind.not_in(self.private_kinds),
                Operation.principal_id == self.principal_id,
            ),
        )

    def sees_row(self, op: Operation) -> bool:
        """``sees()`` for an operation already read."""
        if op.tenant_id != self.tenant_id:
            return False
        return op.kind not in self.private_kinds or op.principal_id == self.principal_id


Scope = uuid.UUID | Reader


def as_reader(scope: Scope) -> Reader:
    """A tenant id (what features pass: they check access themselves) reads every
    operation of the tenant."""
    return scope if isinstance(scope, Reader) else Reader(scope)


def reader_of(request: Request, caller: Caller) -> Reader:
    """The reader an API caller is."""
    return Reader(caller.tenant_id, caller.principal_id, request.app.state.registry.private_kinds())
