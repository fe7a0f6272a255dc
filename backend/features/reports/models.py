"""A person's cached report for one period."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from backend.db import Base
from backend.ids import new_id


class PersonReport(Base):
    """The newest report on a person for a period, and what it was built from.

    ``document`` is the report as clients read it (narrative, figures, provenance),
    stored once when generated so that serving it is a single indexed read;
    ``sources`` is what it was built from (counts and the latest source timestamp),
    compared by a refresh to decide whether the model need be asked again.
    """

    __tablename__ = "person_reports"
    __table_args__ = (
        # Serves the lookup of every GET: one person, one period.
        UniqueConstraint("person_id", "period"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    period: Mapped[str] = mapped_column(String(40))
    period_start: Mapped[date]
    period_end: Mapped[date]
    document: Mapped[dict[str, Any]] = mapped_column(JSONB)
    sources: Mapped[dict[str, Any]] = mapped_column(JSONB)
    generated_at: Mapped[datetime]
    # When the report was last generated or found up to date: its age counts from here.
    refreshed_at: Mapped[datetime]
    # The operation that last generated or confirmed it, and the newest refresh started
    # while serving it (not foreign keys: operations are pruned, and a missing one
    # simply is not linked).
    operation_id: Mapped[uuid.UUID]
    refresh_operation_id: Mapped[uuid.UUID | None]
