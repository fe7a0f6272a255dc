"""accepted(): how a feature's create endpoint answers 202 for the operation it made."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backend.auth.dependencies import DbSession, WritingCaller
from backend.errors import problem_responses
from backend.operations import service
from backend.operations.http import accepted, accepted_responses
from backend.operations.models import Operation
from backend.operations.schemas import OperationOut
from tests.conftest import ApiCaller

Sessions = async_sessionmaker[AsyncSession]


class EchoRequest(BaseModel):
    value: str


feature = APIRouter(prefix="/api/v1/test-only")


@feature.post(
    "/echoes",
    status_code=202,
    response_model=OperationOut,
    responses={**accepted_responses(), **problem_responses(401, 403, 422)},
)
async def create_echo(
    body: EchoRequest, request: Request, session: DbSession, caller: WritingCaller
) -> JSONResponse:
    op = await service.create_operation(
        session,
        request.app.state.registry,
        tenant_id=caller.tenant_id,
        principal_id=caller.principal_id,
        kind="test.echo",
        params={"value": body.value},
        target="https://example.com/echoes/1",
    )
    return accepted(request, op)


class CommitProbe:
    """Wraps the app and, when a 202 starts, reads the operation it names from another
    session: what a client polling Location at once would see."""

    def __init__(self, app: ASGIApp, sessionmaker: Sessions) -> None:
        self.app = app
        self.sessionmaker = sessionmaker
        self.visible_at_response_start: list[bool] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def probing_send(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 202:
                location = dict(message["headers"])[b"location"].decode()
                op_id = uuid.UUID(location.rsplit("/", 1)[-1])
                async with self.sessionmaker() as session:
                    found = await session.get(Operation, op_id)
                self.visible_at_response_start.append(found is not None)
            await send(message)

        await self.app(scope, receive, probing_send)


@pytest.fixture
def probe(app: FastAPI, sessionmaker: Sessions) -> CommitProbe:
    app.include_router(feature)
    return CommitProbe(app, sessionmaker)


@pytest.fixture
async def feature_client(probe: CommitProbe) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=probe)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


async def test_a_create_endpoint_answers_202_with_location_and_retry_after(
    feature_client: httpx.AsyncClient, caller: ApiCaller
) -> None:
    response = await feature_client.post(
        "/api/v1/test-only/echoes", json={"value": "hi"}, headers=caller.headers
    )

    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "pending"
    assert body["kind"] == "test.echo"
    assert body["target"] == "https://example.com/echoes/1"
    location = response.headers["Location"]
    assert location == f"http://testserver/api/v1/operations/{body['id']}"
    assert location == body["links"]["self"]
    assert int(response.headers["Retry-After"]) >= 1
    assert response.headers["ETag"].startswith('W/"')


async def test_the_operation_is_committed_before_the_202_is_sent(
    feature_client: httpx.AsyncClient, probe: CommitProbe, caller: ApiCaller
) -> None:
    response = await feature_client.post(
        "/api/v1/test-only/echoes", json={"value": "hi"}, headers=caller.headers
    )

    assert response.status_code == 202
    assert probe.visible_at_response_start == [True]


async def test_the_location_can_be_followed_at_once(
    feature_client: httpx.AsyncClient, caller: ApiCaller
) -> None:
    created = await feature_client.post(
        "/api/v1/test-only/echoes", json={"value": "hi"}, headers=caller.headers
    )

    response = await feature_client.get(created.headers["Location"], headers=caller.headers)

    assert response.status_code == 200
    assert response.json()["id"] == created.json()["id"]
    assert response.headers["ETag"] == created.headers["ETag"]


async def test_invalid_input_creates_nothing(
    feature_client: httpx.AsyncClient, caller: ApiCaller
) -> None:
    response = await feature_client.post(
        "/api/v1/test-only/echoes", json={"value": 42}, headers=caller.headers
    )
    listed = await feature_client.get("/api/v1/operations", headers=caller.headers)

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert listed.json()["operations"] == []


def test_accepted_responses_document_location_and_retry_after(app: FastAPI) -> None:
    app.include_router(feature)
    app.openapi_schema = None

    answer = app.openapi()["paths"]["/api/v1/test-only/echoes"]["post"]["responses"]["202"]

    assert {"Location", "Retry-After", "ETag"} <= set(answer["headers"])
    assert answer["content"]["application/json"]["schema"]["$ref"].endswith("/OperationOut")
