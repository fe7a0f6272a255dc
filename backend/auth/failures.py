"""Failed authentications, counted per client IP and per presented credential, so that
guessing API keys or reviewer tokens is slowed to a few tries per window.

PostgreSQL is the only state API processes share, so the counters live in one small
table (``auth_failures``), written only when an authentication fails. The success path
costs no extra round trip: the key lookup (``CALLER_BY_KEY``) carries the check as a
``NOT EXISTS`` on the table's primary key, so a blocked client finds no caller and
takes the failure path, which tells a block (429) from a wrong key (401).
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from backend.db import notify

# IPv6 clients are counted by their /64: one host usually holds a whole /64, and
# counting single addresses would give it 2^64 fresh counters.
IPV6_PREFIX = 64


@functools.lru_cache(maxsize=4096)  # parsing an address is most of an attempt's cost
def client_subject(host: str | None) -> str:
    """The subject a client's failures are counted under: its IPv4 address, or its IPv6
    /64 network."""
    try:
        address = ipaddress.ip_address(host or "")
    except ValueError:
        return "ip:" + (host or "unknown")[:100]
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return f"ip:{address.ipv4_mapped}"
        return f"ip:{ipaddress.IPv6Network((address, IPV6_PREFIX), strict=False)}"
    return f"ip:{address}"


def credential_subject(kind: str, credential: str) -> str:
    """The subject of a presented credential: its hash, never the credential itself."""
    return f"{kind}:{hashlib.sha256(credential.encode()).hexdigest()}"


@dataclass(frozen=True)
class Attempt:
    """One authentication attempt: the two subjects it counts under (the client, the
    credential), and the limit."""

    client: str
    credential: str
    max_failures: int
    window_seconds: float

    def params(self) -> dict[str, Any]:
        """Parameters of BLOCKED and of record_failure."""
        return {
            "client": self.client,
            "credential": self.credential,
            "max_failures": self.max_failures,
            "failure_window": self.window_seconds,
        }


# The rows of the attempt's subjects that have used up their failures in the current
# window (none when limiting is off). Served by pk_auth_failures: two probes. The two
# subjects are two parameters, not an array, so that PostgreSQL's generic plan costs
# what a custom one does and a prepared lookup is not planned again on every request
# (with an array of unknown length it was: bench/auth_lookup.py, docs/benchmarks.md).
_BLOCKING = """
    :max_failures > 0
    AND f.subject IN (:client, :credential)
    AND f.failures >= :max_failures
    AND f.window_started_at > now() - make_interval(secs => :failure_window)
"""

# True when the attempt is blocked: part of CALLER_BY_KEY, so the success path pays
# no extra round trip for it.
BLOCKED = f"EXISTS (SELECT FROM auth_failures f WHERE {_BLOCKING})"

# Seconds until the last blocking window of the attempt ends; no row when not blocked.
_RETRY_AFTER = f"""
    SELECT greatest(1, ceil(extract(epoch FROM
               max(f.window_started_at) + make_interval(secs => :failure_window) - now()
           )))::int AS retry_after
    FROM auth_failures f
    WHERE {_BLOCKING}
    HAVING count(*) > 0
"""

# A blocked attempt is not counted (the window is not pushed further out, and an
# attacker's flood costs one read each); any other failure increments each subject's
# counter, or starts a new window for it when its last one has passed.
_RECORD_FAILURE = text(
    f"""
    WITH blocked AS ({_RETRY_AFTER}), counted AS (
        INSERT INTO auth_failures AS f (subject, failures, window_started_at)
        SELECT subject, 1, now() FROM (VALUES (:client), (:credential)) AS s (subject)
        WHERE NOT EXISTS (SELECT FROM blocked)
        ON CONFLICT (subject) DO UPDATE SET
            failures = CASE
                WHEN f.window_started_at > now() - make_interval(secs => :failure_window)
                THEN f.failures + 1 ELSE 1 END,
            window_started_at = CASE
                WHEN f.window_started_at > now() - make_interval(secs => :failure_window)
                THEN f.window_started_at ELSE now() END
        RETURNING f.subject, f.failures
    )
    SELECT (SELECT retry_after FROM blocked) AS retry_after,
           (SELECT string_agg(subject, E'\\n') FROM counted
            WHERE failures >= :max_failures) AS now_blocked
    """
)

# Tells every API process which subjects a failure blocked (backend.auth.cache).
CHANNEL_AUTH_BLOCKED = "opsapi_auth_blocked"


async def record_failure(engine: AsyncEngine, attempt: Attempt) -> int | None:
    """Count a failed authentication in its own transaction (it must outlive the
    request's rollback). Answers the seconds to wait when the attempt was already
    blocked (nothing counted then), None when it was counted."""
    if attempt.max_failures <= 0:
        return None
    async with engine.begin() as conn:
        row = (await conn.execute(_RECORD_FAILURE, attempt.params())).one()
        if row.now_blocked:
            await notify(conn, CHANNEL_AUTH_BLOCKED, row.now_blocked)
    retry_after: int | None = row.retry_after
    return retry_after


async def blocked_for(engine: AsyncEngine, attempt: Attempt) -> int | None:
    """The seconds to wait when the attempt's subjects are blocked, else None: for
    credentials checked without the key lookup (reviewer tokens)."""
    if attempt.max_failures <= 0:
        return None
    async with engine.connect() as conn:
        row = (await conn.execute(text(_RETRY_AFTER), attempt.params())).first()
    return None if row is None else int(row[0])


async def prune(engine: AsyncEngine, *, window_seconds: float, limit: int) -> int:
    """Delete up to ``limit`` counters whose window has passed (served by
    ix_auth_failures_window_started_at); answers how many."""
    async with engine.begin() as conn:
        result = await conn.execute(
            text(
                """
                DELETE FROM auth_failures WHERE subject IN (
                    SELECT subject FROM auth_failures
                    WHERE window_started_at < now() - make_interval(secs => :window)
                    ORDER BY window_started_at LIMIT :limit
                    FOR UPDATE SKIP LOCKED)
                """
            ),
            {"window": window_seconds, "limit": limit},
        )
    return int(result.rowcount or 0)
