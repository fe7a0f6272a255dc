"""FastAPI dependencies: the request's database session and its authenticated caller."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth.exceptions import ReadOnlyCaller
from backend.auth.models import Role
from backend.auth.service import Caller, authenticate
from backend.errors import NotAuthenticated

_bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer opsapi_…`")


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


async def _caller(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Caller:
    """The caller behind the API key. Authentication is its own short transaction, so
    the key's row is never locked and no connection is held for the rest of the request
    (a long-poll of a minute must not stall the key's other requests)."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise NotAuthenticated(
            "Send an API key as `Authorization: Bearer <key>`.",
            headers={"WWW-Authenticate": "Bearer"},
        )
    async with request.app.state.sessionmaker() as session:
        caller = await authenticate(session, credentials.credentials)
        await session.commit()
    if caller is None:
        raise NotAuthenticated(
            "The API key is unknown or has been revoked. Ask an administrator for a valid "
            "key (`opsapi admin create-key`).",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return caller


CurrentCaller = Annotated[Caller, Depends(_caller)]


async def _writer(caller: CurrentCaller) -> Caller:
    if caller.role is Role.viewer:
        raise ReadOnlyCaller("This API key is read-only (viewer): it cannot change anything.")
    return caller


WritingCaller = Annotated[Caller, Depends(_writer)]
