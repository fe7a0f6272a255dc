"""``Idempotency-Key`` on create endpoints (IETF httpapi idempotency-key draft).

A create endpoint opts in by declaring a parameter of type ``Idempotent``. With the
header, the key is claimed for the caller (tenant and principal) in a short
transaction of its own, so a concurrent duplicate sees the claim at once and gets
409; the database decides, whichever process the requests reach. The first answer
(given through ``http.accepted`` or ``remember``) is stored in the request's own
transaction, together with what the endpoint wrote: either both commit or neither.
Later requests with the same key and the same request replay that answer; with a
different request they get 422. A failed request releases its key.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, FastAPI, Header, Request, Response
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from backend.auth.dependencies import CurrentCaller, DbSession
from backend.errors import AppError, Conflict
from backend.ids import new_id

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255
# The headers of the first answer that a replay repeats.
STORED_HEADERS = ("location", "retry-after", "etag", "content-type")


class InvalidIdempotencyKey(AppError):
    status = 422
    code = "INVALID_IDEMPOTENCY_KEY"
    title = "Invalid Idempotency-Key"

    def __init__(self) -> None:
        super().__init__(
            f"{HEADER} must be 1 to {MAX_KEY_LENGTH} printable ASCII characters, such as a "
            "UUID you generate for this request."
        )


class IdempotencyKeyReused(AppError):
    status = 422
    code = "IDEMPOTENCY_KEY_REUSED"
    title = "Idempotency-Key used for another request"

    def __init__(self) -> None:
        super().__init__(
            f"This {HEADER} was already used for a different request (method, path or "
            "body). Use a new key for a new request."
        )


class IdempotencyKeyInUse(Conflict):
    code = "IDEMPOTENCY_KEY_IN_USE"
    title = "Request with this Idempotency-Key in progress"

    def __init__(self) -> None:
        super().__init__(
            f"A request with this {HEADER} is still being processed. Retry after "
            "Retry-After seconds to receive its answer.",
            headers={"Retry-After": "1"},
        )


class IdempotentReplay(Exception):
    """Carries a stored answer out of the dependency, instead of running the endpoint."""

    def __init__(self, response: Response) -> None:
        super().__init__("idempotent replay")
        self.response = response


@dataclass
class Claim:
    """This request's hold on an idempotency key."""

    tenant_id: uuid.UUID
    principal_id: uuid.UUID
    key: str
    claim_id: uuid.UUID = field(default_factory=new_id)
    response: Response | None = None

    @property
    def ids(self) -> dict[str, object]:
        return {"tenant": self.tenant_id, "principal": self.principal_id, "key": self.key}


@dataclass(frozen=True)
class Fingerprint:
    method: str
    path: str
    body_sha256: str


# By primary key. A key past its expiry, or claimed by a request that died (its lock
# ran out) for the same request, is taken over; any other existing key is left alone
# and the caller reads it to decide.
_CLAIM = text(
    """
    INSERT INTO idempotency_keys AS k
        (tenant_id, principal_id, key, request_method, request_path, request_hash,
         state, claim_id, locked_until, expires_at)
    VALUES (:tenant, :principal, :key, :method, :path, :hash, 'in_flight', :claim,
            now() + make_interval(secs => :lock), now() + make_interval(secs => :retention))
    ON CONFLICT (tenant_id, principal_id, key) DO UPDATE
    SET request_method = EXCLUDED.request_method, request_path = EXCLUDED.request_path,
        request_hash = EXCLUDED.request_hash, state = 'in_flight',
        claim_id = EXCLUDED.claim_id, locked_until = EXCLUDED.locked_until,
        expires_at = EXCLUDED.expires_at, created_at = now(),
        response_status = NULL, response_headers = NULL, response_body = NULL
    WHERE k.expires_at <= now()
       OR (k.state = 'in_flight' AND k.locked_until <= now()
           AND k.request_method = EXCLUDED.request_method
           AND k.request_path = EXCLUDED.request_path
           AND k.request_hash = EXCLUDED.request_hash)
    RETURNING 1
    """
)

_EXISTING = text(
    """
    SELECT request_method, request_path, request_hash, state,
           response_status, response_headers, response_body
    FROM idempotency_keys
    WHERE tenant_id = :tenant AND principal_id = :principal AND key = :key
    """
)

# Fenced on the claim: a request that outlived its lock and lost the key to another
# completes nothing (and its transaction rolls back).
_COMPLETE = text(
    """
    UPDATE idempotency_keys
    SET state = 'completed', response_status = :status,
        response_headers = CAST(:headers AS jsonb), response_body = :body
    WHERE tenant_id = :tenant AND principal_id = :principal AND key = :key
      AND claim_id = :claim AND state = 'in_flight'
    """
)

_RELEASE = text(
    """
    DELETE FROM idempotency_keys
    WHERE tenant_id = :tenant AND principal_id = :principal AND key = :key
      AND claim_id = :claim AND state = 'in_flight'
    """
)

# Served by ix_idempotency_keys_expires_at; bounded like every prune.
_PRUNE = text(
    """
    DELETE FROM idempotency_keys
    WHERE (tenant_id, principal_id, key) IN (
        SELECT tenant_id, principal_id, key FROM idempotency_keys
        WHERE expires_at < now()
        ORDER BY expires_at
        LIMIT :limit
        FOR UPDATE SKIP LOCKED
    )
    """
)


def parse_key(value: str) -> str:
    """The key, also accepted as a structured-field string (``"abc"``, as in the draft)."""
    key = value.strip()
    if len(key) >= 2 and key[0] == key[-1] == '"':
        key = key[1:-1]
    if not key or len(key) > MAX_KEY_LENGTH or not (key.isascii() and key.isprintable()):
        raise InvalidIdempotencyKey()
    return key


async def fingerprint(request: Request) -> Fingerprint:
    path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    body = await request.body()
    return Fingerprint(request.method, path, hashlib.sha256(body).hexdigest())


async def claim_key(
    engine: AsyncEngine, claim: Claim, request: Fingerprint, *, lock: float, retention: float
) -> None:
    """Hold the key for this request, or raise: a replay, 422 or 409."""
    params = {
        **claim.ids,
        "method": request.method,
        "path": request.path,
        "hash": request.body_sha256,
        "claim": claim.claim_id,
        "lock": lock,
        "retention": retention,
    }
    # A key released between our INSERT and SELECT is simply claimed on the next round.
    for _ in range(3):
        async with engine.begin() as conn:
            if (await conn.execute(_CLAIM, params)).first() is not None:
                return
            row = (await conn.execute(_EXISTING, claim.ids)).first()
        if row is None:
            continue
        if (row.request_method, row.request_path, row.request_hash) != (
            request.method,
            request.path,
            request.body_sha256,
        ):
            raise IdempotencyKeyReused()
        if row.state != "completed":
            raise IdempotencyKeyInUse()
        headers = {**(row.response_headers or {}), REPLAYED_HEADER: "true"}
        raise IdempotentReplay(
            Response(content=row.response_body, status_code=row.response_status, headers=headers)
        )
    raise IdempotencyKeyInUse()


async def release_key(engine: AsyncEngine, claim: Claim) -> None:
    async with engine.begin() as conn:
        await conn.execute(_RELEASE, {**claim.ids, "claim": claim.claim_id})


def remember(request: Request, response: Response) -> None:
    """Make ``response`` the answer an ``Idempotency-Key`` of this request replays.

    ``http.accepted`` calls it; a create endpoint answering otherwise calls it itself.
    """
    claim: Claim | None = getattr(request.state, "idempotency_claim", None)
    if claim is not None:
        claim.response = response


async def _idempotency(
    request: Request,
    session: DbSession,
    caller: CurrentCaller,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias=HEADER,
            description="A unique key per request (e.g. a UUID): a retry with the same key "
            "and the same request replays the first answer instead of creating again.",
        ),
    ] = None,
) -> AsyncIterator[Claim | None]:
    if idempotency_key is None:
        yield None
        return
    claim = Claim(caller.tenant_id, caller.principal_id, parse_key(idempotency_key))
    settings = request.app.state.settings.idempotency
    engine: AsyncEngine = request.app.state.engine
    await claim_key(
        engine,
        claim,
        await fingerprint(request),
        lock=settings.lock_seconds,
        retention=settings.retention_seconds,
    )
    request.state.idempotency_claim = claim
    try:
        yield claim
    except BaseException:
        await release_key(engine, claim)
        raise
    response = claim.response
    if response is None or response.status_code >= 500:
        await release_key(engine, claim)
        return
    headers = {k: v for k, v in response.headers.items() if k in STORED_HEADERS}
    # In the request's transaction: stored if and only if the endpoint's writes commit.
    result = await session.execute(
        _COMPLETE,
        {
            **claim.ids,
            "claim": claim.claim_id,
            "status": response.status_code,
            "headers": json.dumps(headers),
            "body": bytes(response.body),
        },
    )
    if result.rowcount == 0:  # type: ignore[attr-defined]
        raise IdempotencyKeyInUse()


Idempotent = Annotated[Claim | None, Depends(_idempotency, scope="function")]


async def _replay(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, IdempotentReplay)
    return exc.response


def install_idempotency(app: FastAPI) -> None:
    """Answer replays with the stored response."""
    app.add_exception_handler(IdempotentReplay, _replay)


async def prune_expired(engine: AsyncEngine, *, limit: int) -> int:
    """Delete up to ``limit`` expired keys; answer how many."""
    async with engine.begin() as conn:
        result = await conn.execute(_PRUNE, {"limit": limit})
    count: int = result.rowcount
    return count
