"""People, and the principals linked to them."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, func, text
from sqlalchemy.orm import Mapped, mapped_column

from backend.db import Base
from backend.ids import new_id


class Person(Base):
    """Someone of the tenant: the subject of a review cycle, a student of an evaluation."""

    __tablename__ = "people"
    __table_args__ = (
        # Serves the tenant's list (keyset on the time-ordered id).
        Index("ix_people_tenant_id", "tenant_id", "id"),
        # An external id (from an HR or school system) names one person per tenant.
        Index(
            "uq_people_external_id",
            "tenant_id",
            "external_id",
            unique=True,
            postgresql_where=text("external_id IS NOT NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    external_id: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class PersonPrincipal(Base):
    """A principal acting as a person: a student reading their own summary, or (for
    reports) the principal whose interview sessions count for the person. A principal
    is linked to at most one person; a person may have several principals."""

    __tablename__ = "person_principals"

    principal_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("principals.id", ondelete="CASCADE"), primary_key=True
    )
    person_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("people.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
