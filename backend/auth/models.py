"""Tenants, the principals acting in them, and their API keys."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import Enum, ForeignKey, String, func
from sqlalchemy.orm import Mapped, mapped_column

from backend.db import Base
from backend.ids import new_id


class Role(enum.StrEnum):
    admin = "admin"
    member = "member"
    viewer = "viewer"


class Tenant(Base):
    __tablename__ = "tenants"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class Principal(Base):
    __tablename__ = "principals"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[Role] = mapped_column(
        Enum(Role, name="role", native_enum=False, length=20, validate_strings=True)
    )
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    principal_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("principals.id", ondelete="CASCADE"), index=True
    )
    # The first characters of the key, kept to tell keys apart in listings.
    prefix: Mapped[str] = mapped_column(String(20))
    # SHA-256 of the whole key: keys are long random strings, so a fast hash is enough.
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class AuthFailure(Base):
    """Failed authentications of one subject (a client IP, or a presented API key or
    reviewer token by its hash) in the current window; written only when one fails."""

    __tablename__ = "auth_failures"

    # "ip:203.0.113.7", "ip:2001:db8:1:2::/64", "key:<sha256>", "token:<sha256>".
    subject: Mapped[str] = mapped_column(String(120), primary_key=True)
    failures: Mapped[int]
    # Serves the pruning of rows whose window has passed.
    window_started_at: Mapped[datetime] = mapped_column(index=True)
