"""Tenants, principals and API keys: creation, lookup, revocation."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth.exceptions import KeyNotFound, TenantExists, TenantNotFound
from backend.auth.failures import BLOCKED, Attempt
from backend.auth.models import ApiKey, Principal, Role, Tenant
from backend.db import notify

KEY_PREFIX = "opsapi_"
# last_used_at is refreshed at most this often, so a busy key costs no write per request.
LAST_USED_GRANULARITY_SECONDS = 60
# Revoked keys are announced here, so API processes drop them from their caches.
CHANNEL_KEY_REVOKED = "opsapi_key_revoked"


@dataclass(frozen=True)
class Caller:
    """Who is making a request: the principal, its tenant and its role."""

    principal_id: uuid.UUID
    tenant_id: uuid.UUID
    role: Role
    key_id: uuid.UUID


@dataclass(frozen=True)
class IssuedKey:
    key: str
    key_id: uuid.UUID
    tenant_id: uuid.UUID
    principal_id: uuid.UUID
    role: Role


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


async def create_tenant(session: AsyncSession, name: str) -> Tenant:
    existing = await session.scalar(select(Tenant).where(Tenant.name == name))
    if existing is not None:
        raise TenantExists(
            f"A tenant named {name!r} already exists. Choose another name, or add a key to "
            f"it with `opsapi admin create-key --tenant {name}`."
        )
    tenant = Tenant(name=name)
    session.add(tenant)
    await session.flush()
    return tenant


async def get_tenant_by_name(session: AsyncSession, name: str) -> Tenant:
    tenant = await session.scalar(select(Tenant).where(Tenant.name == name))
    if tenant is None:
        raise TenantNotFound(
            f"No tenant is named {name!r}. Create it with `opsapi admin create-tenant {name}`, "
            "or see the existing ones with `opsapi admin list-keys`."
        )
    return tenant


async def create_key(
    session: AsyncSession,
    tenant: Tenant,
    *,
    role: Role = Role.member,
    principal_name: str | None = None,
) -> IssuedKey:
    """Create a principal in the tenant and an API key for it; the key is returned once."""
    name = principal_name or f"{role.value} key"
    principal = Principal(tenant_id=tenant.id, name=name, role=role)
    session.add(principal)
    await session.flush()
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    api_key = ApiKey(principal_id=principal.id, prefix=key[:14], key_hash=hash_key(key))
    session.add(api_key)
    await session.flush()
    return IssuedKey(
        key=key, key_id=api_key.id, tenant_id=tenant.id, principal_id=principal.id, role=role
    )


@dataclass(frozen=True)
class KeyListing:
    key_id: uuid.UUID
    prefix: str
    tenant: str
    principal_id: uuid.UUID
    principal_name: str
    role: Role
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


async def list_keys(session: AsyncSession, tenant_name: str | None = None) -> list[KeyListing]:
    stmt = (
        select(ApiKey, Principal, Tenant)
        .join(Principal, Principal.id == ApiKey.principal_id)
        .join(Tenant, Tenant.id == Principal.tenant_id)
        .order_by(ApiKey.created_at)
    )
    if tenant_name is not None:
        stmt = stmt.where(Tenant.name == tenant_name)
    rows = (await session.execute(stmt)).all()
    return [
        KeyListing(
            key_id=k.id,
            prefix=k.prefix,
            tenant=t.name,
            principal_id=p.id,
            principal_name=p.name,
            role=p.role,
            created_at=k.created_at,
            last_used_at=k.last_used_at,
            revoked_at=k.revoked_at,
        )
        for k, p, t in rows
    ]


async def revoke_key(session: AsyncSession, key_id_or_prefix: str) -> uuid.UUID:
    """Revoke a key by id or by its listed prefix; revoking twice is harmless."""
    try:
        condition = ApiKey.id == uuid.UUID(key_id_or_prefix)
    except ValueError:
        condition = ApiKey.prefix == key_id_or_prefix
    key = await session.scalar(select(ApiKey).where(condition))
    if key is None:
        raise KeyNotFound(
            f"No API key matches {key_id_or_prefix!r}. Pass a key id or prefix as shown by "
            "`opsapi admin list-keys`."
        )
    if key.revoked_at is None:
        await session.execute(
            update(ApiKey).where(ApiKey.id == key.id).values(revoked_at=text("now()"))
        )
    # Sent on commit, also when revoking again: every API process forgets the key.
    await notify(session, CHANNEL_KEY_REVOKED, str(key.id))
    return key.id


# The caller behind an unrevoked key and whether its last use is older than
# LAST_USED_GRANULARITY_SECONDS; none while the client or the key is blocked for too
# many failed authentications (backend.auth.failures). Parameters from
# caller_by_key_params. Endpoints that fold authentication into their own statement
# use it as a CTE.
CALLER_BY_KEY = f"""
    SELECT k.id, k.principal_id, p.tenant_id, p.role,
           k.last_used_at IS NULL
           OR k.last_used_at < now() - make_interval(secs => :granularity) AS stale
    FROM api_keys k JOIN principals p ON p.id = k.principal_id
    WHERE k.key_hash = :key_hash AND k.revoked_at IS NULL AND NOT {BLOCKED}
"""


def caller_by_key_params(key: str, attempt: Attempt) -> dict[str, Any]:
    return {
        "key_hash": hash_key(key),
        "granularity": LAST_USED_GRANULARITY_SECONDS,
        **attempt.params(),
    }


async def authenticate(session: AsyncSession, key: str, attempt: Attempt) -> Caller | None:
    """The caller a key belongs to, or None for an unknown or revoked key (or while the
    attempt is blocked)."""
    row = (await session.execute(text(CALLER_BY_KEY), caller_by_key_params(key, attempt))).first()
    if row is None:
        return None
    if row.stale:
        # SKIP LOCKED: when a concurrent request is already recording the use, this one
        # neither waits for it nor writes the same timestamp again.
        await session.execute(
            text(
                """
                UPDATE api_keys SET last_used_at = now()
                WHERE id = (SELECT id FROM api_keys WHERE id = :id FOR UPDATE SKIP LOCKED)
                """
            ),
            {"id": row.id},
        )
    return Caller(
        principal_id=row.principal_id, tenant_id=row.tenant_id, role=Role(row.role), key_id=row.id
    )
