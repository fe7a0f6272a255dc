"""Serving reports: one read decides between a fresh report, a stale one with a refresh
behind it, and none (a generation, deduplicated, one per person at a time)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from backend.auth.failures import Attempt
from backend.auth.models import Role
from backend.auth.service import CALLER_BY_KEY, Caller, caller_by_key_params
from backend.features.reports.exceptions import PersonNotVisible
from backend.features.reports.models import PersonReport
from backend.features.reports.periods import Period
from backend.features.reports.schemas import GENERATE_KIND, GenerateParams
from backend.operations import service
from backend.operations.models import Operation
from backend.operations.registry import Registry

# Every GET runs this and nothing else when the report is fresh: the caller behind the
# API key (backend.auth.service.CALLER_BY_KEY, as every endpoint reads it), the person
# (tenant check), whom the caller acts as (if anyone), the report and its newest
# refresh, all by unique keys (api_keys.key_hash, primary keys,
# uq_person_reports_person_id). The document comes back as the text PostgreSQL
# stores, sent to the client without being decoded and encoded again.
_LOOKUP = text(
    f"""
    WITH caller AS ({CALLER_BY_KEY})
    SELECT c.id AS key_id, c.principal_id, c.tenant_id, c.role, c.stale AS key_stale,
           pe.id IS NOT NULL AS person_found,
           pp.principal_id IS NOT NULL AS acting,
           pp.person_id IS NOT DISTINCT FROM pe.id AS linked,
           r.document::text AS document,
           r.refreshed_at,
           extract(epoch FROM now() - r.refreshed_at)::float8 AS age,
           o.id AS op_id,
           o.status AS op_status,
           o.error::text AS op_error,
           extract(epoch FROM now() - o.finished_at)::float8 AS op_finished_ago
    FROM caller c
    LEFT JOIN people pe ON pe.id = :person_id AND pe.tenant_id = c.tenant_id
    LEFT JOIN person_principals pp ON pp.principal_id = c.principal_id
    LEFT JOIN person_reports r ON r.person_id = pe.id AND r.period = :period
    LEFT JOIN operations o
           ON o.id = r.refresh_operation_id AND o.tenant_id = c.tenant_id
          AND (o.expires_at IS NULL OR o.expires_at > now())
    """
)

ACTIVE_STATUSES = frozenset({"pending", "processing"})


@dataclass(frozen=True)
class RefreshState:
    id: uuid.UUID
    status: str
    error: str | None
    finished_ago: float | None

    @property
    def active(self) -> bool:
        return self.status in ACTIVE_STATUSES


@dataclass(frozen=True)
class Cached:
    """A stored report as one read found it."""

    document: str
    refreshed_at: Any
    age: float
    refresh: RefreshState | None


def can_generate(caller: Caller) -> bool:
    """Read-only keys see cached reports but never start work."""
    return caller.role is not Role.viewer


def may_read(caller: Caller, *, acting: bool, linked: bool) -> bool:
    """Whether the caller may read reports on a person of its tenant: admins on anyone;
    a principal acting as a person (a student with a viewer key, say) on that person
    only, whatever its role; other viewers on anyone; other members on no one."""
    if caller.role is Role.admin:
        return True
    if acting or caller.role is Role.member:
        return linked
    return True


@dataclass(frozen=True)
class Found:
    """What the one read of a request found: who is asking, and the report if any."""

    caller: Caller
    key_stale: bool
    cached: Cached | None


async def find_report(
    engine: AsyncEngine, api_key: str, attempt: Attempt, person_id: uuid.UUID, period: Period
) -> Found | None:
    """The caller behind ``api_key`` (None for an unknown or revoked key, or while the
    attempt is blocked for too many failed authentications) and the stored report on the
    person, if the caller may see them (``may_read``); anyone else's is not found.

    One statement on a connection in autocommit: it authenticates and reads the report
    at once, and a single read needs no transaction, so the hottest path of reports
    costs one round trip (after the pool's liveness check).
    """
    async with engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        return await _lookup(conn, api_key, attempt, person_id, period)


async def _lookup(
    conn: AsyncConnection, api_key: str, attempt: Attempt, person_id: uuid.UUID, period: Period
) -> Found | None:
    row = (
        await conn.execute(
            _LOOKUP,
            {
                **caller_by_key_params(api_key, attempt),
                "period": period.key,
                "person_id": person_id,
            },
        )
    ).first()
    if row is None:
        return None
    caller = Caller(
        principal_id=row.principal_id,
        tenant_id=row.tenant_id,
        role=Role(row.role),
        key_id=row.key_id,
    )
    if not row.person_found or not may_read(caller, acting=row.acting, linked=row.linked):
        raise PersonNotVisible()
    cached = None
    if row.document is not None:
        refresh = None
        if row.op_id is not None:
            refresh = RefreshState(row.op_id, row.op_status, row.op_error, row.op_finished_ago)
        cached = Cached(row.document, row.refreshed_at, row.age, refresh)
    return Found(caller, row.key_stale, cached)


def needs_refresh(cached: Cached, *, ttl: float, retry_after: float, forced: bool) -> bool:
    """Whether serving ``cached`` should start a refresh: it is stale (or a refresh was
    asked for), none is under way, and the last one did not fail just now."""
    refresh = cached.refresh
    if refresh is not None and refresh.active:
        return False
    if forced:
        return True
    if cached.age < ttl:
        return False
    failed_recently = (
        refresh is not None
        and refresh.status != "completed"
        and refresh.finished_ago is not None
        and refresh.finished_ago < retry_after
    )
    return not failed_recently


def dedup_key(person_id: uuid.UUID, period: Period) -> str:
    return f"report:{person_id}:{period.key}"


def concurrency_key(person_id: uuid.UUID) -> str:
    return f"report-subject:{person_id}"


async def schedule_generation(
    session: AsyncSession,
    registry: Registry,
    caller: Caller,
    person_id: uuid.UUID,
    period: Period,
    *,
    target: str,
    cached: bool,
) -> Operation:
    """Create the generation, or answer the one pending or running for the same person
    and period (uq_operations_dedup decides between racing requests). Generations of
    one person run one at a time (the concurrency key), in any number of workers."""
    op = await service.create_operation(
        session,
        registry,
        tenant_id=caller.tenant_id,
        principal_id=caller.principal_id,
        kind=GENERATE_KIND,
        params=GenerateParams(
            person_id=person_id,
            period=period.key,
            start=period.start,
            end=period.end,
            kind=period.kind,
        ),
        target=target,
        dedup_key=dedup_key(person_id, period),
        concurrency_key=concurrency_key(person_id),
    )
    if cached:
        # The stored report links the refresh, so the next read shows it running (or why
        # it failed) without another write.
        await session.execute(
            update(PersonReport)
            .where(
                PersonReport.person_id == person_id,
                PersonReport.period == period.key,
                PersonReport.refresh_operation_id.is_distinct_from(op.id),
            )
            .values(refresh_operation_id=op.id)
        )
    return op
