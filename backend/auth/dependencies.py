"""FastAPI dependencies: the request's database session and its authenticated caller."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, NoReturn

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth import failures
from backend.auth.cache import KeyCache
from backend.auth.exceptions import ReadOnlyCaller, TooManyAuthFailures
from backend.auth.failures import Attempt, client_subject, credential_subject
from backend.auth.models import Role
from backend.auth.service import Caller, authenticate
from backend.errors import AppError, NotAuthenticated

bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer opsapi_…`")


async def _request_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One session per request, committed when the endpoint returns (before the response
    is sent, so a 202 always means the row is committed) and rolled back on error."""
    async with request.app.state.sessionmaker() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


DbSession = Annotated[AsyncSession, Depends(_request_session, scope="function")]


async def _read_session(request: Request) -> AsyncIterator[AsyncSession]:
    """A session without a transaction (autocommit): for endpoints that read with one
    statement, which saves the BEGIN and COMMIT round trips of a request session."""
    async with request.app.state.read_sessionmaker() as session:
        yield session


ReadSession = Annotated[AsyncSession, Depends(_read_session, scope="function")]


def presented_key(credentials: HTTPAuthorizationCredentials | None) -> str:
    """The API key of an `Authorization: Bearer` header; 401 without one."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise NotAuthenticated(
            "Send an API key as `Authorization: Bearer <key>`.",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return credentials.credentials


def unknown_key() -> NotAuthenticated:
    return NotAuthenticated(
        "The API key is unknown or has been revoked. Ask an administrator for a valid "
        "key (`opsapi admin create-key`).",
        headers={"WWW-Authenticate": "Bearer"},
    )


def attempt_of(request: Request, kind: str, credential: str) -> Attempt:
    """The request's authentication attempt: its client (the socket peer, or the address
    a trusted proxy forwarded: ``forwarded_allow_ips``) and the credential it presents."""
    settings = request.app.state.settings.auth
    return Attempt(
        client=client_subject(request.client.host if request.client else None),
        credential=credential_subject(kind, credential),
        max_failures=settings.max_failures,
        window_seconds=settings.failure_window_seconds,
    )


async def refuse_credential(request: Request, attempt: Attempt, error: AppError) -> NoReturn:
    """Count a failed authentication and raise ``error`` (401, 404), or 429 when the
    client or the credential has used up its failures."""
    request.app.state.key_cache.failed(attempt)
    retry_after = await failures.record_failure(request.app.state.engine, attempt)
    if retry_after is not None:
        raise TooManyAuthFailures(retry_after)
    raise error


async def authenticate_key(request: Request, key: str) -> Caller:
    """The caller behind a key, recording its use; 401 for an unknown or revoked key,
    429 after too many failures. A key this process authenticated moments ago is
    answered from memory (``backend.auth.cache``). Otherwise authentication is its own
    short transaction, so the key's row is never locked and no connection is held for
    the rest of the request (a long-poll of a minute must not stall the key's other
    requests)."""
    attempt = attempt_of(request, "key", key)
    keys: KeyCache = request.app.state.key_cache
    known = keys.get(attempt)
    if known is not None:
        return known
    async with request.app.state.sessionmaker() as session:
        caller = await authenticate(session, key, attempt)
        await session.commit()
    if caller is None:
        await refuse_credential(request, attempt, unknown_key())
    keys.put(attempt, caller)
    return caller


async def _caller(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Caller:
    """The caller behind the request's API key."""
    return await authenticate_key(request, presented_key(credentials))


CurrentCaller = Annotated[Caller, Depends(_caller)]


async def _writer(caller: CurrentCaller) -> Caller:
    if caller.role is Role.viewer:
        raise ReadOnlyCaller("This API key is read-only (viewer): it cannot change anything.")
    return caller


WritingCaller = Annotated[Caller, Depends(_writer)]
