"""A small Python client for following operations: get, wait, poll, stream, cancel.

    async with OperationsClient("https://api.example.com", api_key) as client:
        op = await client.wait(operation_id, timeout=120)
        async for event in client.stream(operation_id):
            print(event.seq, event.type, event.data)

``stream`` resumes after a dropped connection (or the server's maximum connection
lifetime) from the last event it yielded, so no event is lost or repeated. ``poll``
sends ``If-None-Match`` and sleeps what ``Retry-After`` says; every method waits out
``Retry-After`` on 429 and 503 answers. Creating operations is the features' own
endpoints' business: this client follows what they return (``Location``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx

from backend.operations.schemas import OperationOut

API = "/api/v1/operations"
# Answers that mean "come back later" rather than "this request is wrong".
RETRYABLE_STATUSES = frozenset({429, 502, 503, 504})
# Tries of one request before its error is raised.
MAX_ATTEMPTS = 8


class ApiError(Exception):
    """A problem+json answer of the API."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(f"{status} {code}: {detail}")
        self.status = status
        self.code = code
        self.detail = detail


@dataclass(frozen=True)
class OperationEvent:
    """One server-sent event of an operation's stream."""

    seq: int
    type: str
    data: Any

    @property
    def done(self) -> bool:
        """True for the event after which the operation never changes again."""
        if self.type in ("status", "snapshot") and isinstance(self.data, dict):
            return bool(self.data.get("done"))
        return False


class OperationsClient:
    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        http: httpx.AsyncClient | None = None,
        idle_timeout: float = 60.0,
    ) -> None:
        """``idle_timeout``: seconds without a byte (keep-alives included) after which a
        stream is taken as dead and reconnected."""
        self._own_http = http is None
        self._http = http or httpx.AsyncClient(base_url=base_url, timeout=30.0)
        self._base = base_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {api_key}"}
        self._idle_timeout = idle_timeout

    async def __aenter__(self) -> OperationsClient:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._own_http:
            await self._http.aclose()

    def _url(self, op_id: uuid.UUID | str, suffix: str = "") -> str:
        return f"{self._base}{API}/{op_id}{suffix}"

    async def get(self, op_id: uuid.UUID | str) -> OperationOut:
        response = await self._send("GET", self._url(op_id))
        return OperationOut.model_validate(response.json())

    async def cancel(self, op_id: uuid.UUID | str) -> OperationOut:
        response = await self._send("POST", self._url(op_id, "/cancel"))
        return OperationOut.model_validate(response.json())

    async def wait(self, op_id: uuid.UUID | str, timeout: float | None = None) -> OperationOut:
        """Long-poll ``/wait`` until the operation is done (or ``timeout`` seconds pass:
        then its state at that moment)."""
        deadline = _deadline(timeout)
        while True:
            chunk = 30.0 if deadline is None else max(0.0, min(30.0, deadline - _now()))
            response = await self._send(
                "GET",
                self._url(op_id, "/wait"),
                params={"timeout": f"{chunk:g}"},
                timeout=chunk + 30.0,
            )
            op = OperationOut.model_validate(response.json())
            if op.done or (deadline is not None and _now() >= deadline):
                return op

    async def poll(self, op_id: uuid.UUID | str, timeout: float | None = None) -> OperationOut:
        """Poll with ``If-None-Match`` (a 304 costs no body), sleeping ``Retry-After``
        between polls, until the operation is done or ``timeout`` seconds pass."""
        deadline = _deadline(timeout)
        response = await self._send("GET", self._url(op_id))
        op = OperationOut.model_validate(response.json())
        etag = response.headers.get("etag")
        while not op.done:
            pause = _retry_after(response, default=1.0)
            if deadline is not None:
                if _now() >= deadline:
                    break
                pause = min(pause, max(0.0, deadline - _now()))
            await asyncio.sleep(pause)
            headers = {"If-None-Match": etag} if etag else {}
            response = await self._send("GET", self._url(op_id), headers=headers)
            if response.status_code != 304:
                op = OperationOut.model_validate(response.json())
                etag = response.headers.get("etag")
        return op

    async def stream(
        self, op_id: uuid.UUID | str, *, after: int | None = None
    ) -> AsyncGenerator[OperationEvent, None]:
        """Every event of the operation after ``after`` (from the start when None), in
        order and once each, until the one that finishes it. Reconnects with
        ``Last-Event-ID``; a resumed stream's first event may be a ``snapshot`` of the
        current state when there was nothing to catch up on."""
        last = after
        delay = 1.0
        reconnected = False
        while True:
            headers = {**self._headers, "Accept": "text/event-stream"}
            if last is not None:
                headers["Last-Event-ID"] = str(last)
            timeout = httpx.Timeout(30.0, read=self._idle_timeout)
            try:
                async with self._http.stream(
                    "GET", self._url(op_id, "/events"), headers=headers, timeout=timeout
                ) as response:
                    if response.status_code == 204:
                        return  # finished, and nothing was missed
                    if response.status_code != 200:
                        await response.aread()
                        await self._raise_or_pause(response)
                        continue
                    async for field_values in _sse_events(response):
                        if "retry" in field_values and field_values["retry"].isdecimal():
                            delay = int(field_values["retry"]) / 1000
                        if "id" not in field_values or "data" not in field_values:
                            continue
                        event = OperationEvent(
                            seq=int(field_values["id"]),
                            type=field_values.get("event", "message"),
                            data=json.loads(field_values["data"]),
                        )
                        if reconnected and event.type == "snapshot" and event.seq <= (last or 0):
                            continue  # the state as already seen: nothing new to yield
                        last = event.seq
                        yield event
                        if event.done:
                            return
            except httpx.TransportError:
                pass  # the connection dropped: resume from the last event
            reconnected = True
            await asyncio.sleep(delay)

    async def _send(
        self, method: str, url: str, *, timeout: float | None = None, **kwargs: Any
    ) -> httpx.Response:
        """One request, repeated after ``Retry-After`` while the server is busy or away."""
        headers = {**self._headers, **kwargs.pop("headers", {})}
        attempts = 0
        while True:
            attempts += 1
            try:
                response = await self._http.request(
                    method,
                    url,
                    headers=headers,
                    timeout=timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT,
                    **kwargs,
                )
            except httpx.TransportError:
                if attempts >= MAX_ATTEMPTS:
                    raise
                await asyncio.sleep(min(2.0**attempts / 4, 5.0))
                continue
            if response.status_code < 400:
                return response
            await self._raise_or_pause(response, give_up=attempts >= MAX_ATTEMPTS)

    async def _raise_or_pause(self, response: httpx.Response, *, give_up: bool = False) -> None:
        """Sleep ``Retry-After`` for a retryable answer; raise ApiError for the rest."""
        if response.status_code in RETRYABLE_STATUSES and not give_up:
            await asyncio.sleep(_retry_after(response, default=1.0))
            return
        body: dict[str, Any] = {}
        with contextlib.suppress(ValueError):
            body = response.json()
        raise ApiError(
            response.status_code,
            str(body.get("code", "HTTP_ERROR")),
            str(body.get("detail", response.reason_phrase)),
        )


async def _sse_events(response: httpx.Response) -> AsyncIterator[dict[str, str]]:
    """Parse a text/event-stream into the fields of each event (comments skipped)."""
    fields: dict[str, str] = {}
    async for line in response.aiter_lines():
        if line == "":
            if fields:
                yield fields
            fields = {}
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data" and "data" in fields:
            fields["data"] += "\n" + value
        else:
            fields[name] = value


def _retry_after(response: httpx.Response, *, default: float) -> float:
    value = response.headers.get("retry-after", "")
    try:
        return max(0.0, float(value))
    except ValueError:
        return default


def _now() -> float:
    return asyncio.get_running_loop().time()


def _deadline(timeout: float | None) -> float | None:
    return None if timeout is None else _now() + timeout
