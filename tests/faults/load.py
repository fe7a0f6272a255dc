"""Clients that keep uploading documents and reading operations, recording every answer.

Used while the database goes away and comes back: what each answer was, and which
operations were accepted (answered 202), so the test can check both the answers
given during the outage and that no accepted work was lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx

# Longer than any bound the API sets itself (pool timeout, connect timeout): a
# request still unanswered after this is taken to hang.
ANSWER_WITHIN = 30.0

_documents = itertools.count()


@dataclass(frozen=True)
class Answer:
    """One request and what came back (``status`` 0: no answer at all)."""

    request: str
    status: int
    content_type: str = ""
    retry_after: str | None = None
    code: str | None = None
    failure: str | None = None
    at: float = 0.0

    @property
    def succeeded(self) -> bool:
        return 200 <= self.status < 300

    @property
    def is_outage_problem(self) -> bool:
        """503 problem+json with a Retry-After and the stable outage code."""
        return (
            self.status == 503
            and self.content_type.startswith("application/problem+json")
            and self.retry_after is not None
            and self.retry_after.isdigit()
            and self.code == "DATABASE_UNAVAILABLE"
        )


def unique_text() -> bytes:
    """A small plain-text document unlike any other (identical bytes share extractions)."""
    n = next(_documents)
    return (
        f"Incident review number {n}. The database stopped during peak load. "
        f"Requests were answered with a retry hint. Marker {random.getrandbits(64):x}.\n"
    ).encode()


@dataclass
class Load:
    """Clients uploading documents and reading back operations until stopped."""

    base_url: str
    key: str
    clients: int = 4
    answers: list[Answer] = field(default_factory=list)
    accepted: list[str] = field(default_factory=list)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)

    def since(self, moment: float) -> list[Answer]:
        return [a for a in self.answers if a.at >= moment]

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Load]:
        tasks = [asyncio.create_task(self._client()) for _ in range(self.clients)]
        try:
            yield self
        finally:
            self._stop.set()
            await asyncio.gather(*tasks)

    async def _client(self) -> None:
        headers = {"Authorization": f"Bearer {self.key}"}
        async with httpx.AsyncClient(
            base_url=self.base_url, headers=headers, timeout=ANSWER_WITHIN
        ) as client:
            while not self._stop.is_set():
                upload = await self._ask(
                    client,
                    "upload",
                    "POST",
                    "/api/v1/documents",
                    files={"file": ("incident.txt", unique_text(), "text/plain")},
                )
                if upload is not None and upload.status_code == 202:
                    self.accepted.append(upload.json()["operation"]["id"])
                if self.accepted:
                    op_id = random.choice(self.accepted)
                    await self._ask(client, "get", "GET", f"/api/v1/operations/{op_id}")
                # Pace the clients a little: the machine also runs the API, the
                # worker and the database.
                await asyncio.sleep(0.02)

    async def _ask(
        self, client: httpx.AsyncClient, name: str, method: str, url: str, **options: object
    ) -> httpx.Response | None:
        loop = asyncio.get_running_loop()
        at = loop.time()
        try:
            response = await client.request(method, url, **options)  # type: ignore[arg-type]
        except httpx.HTTPError as exc:
            self.answers.append(Answer(name, 0, failure=repr(exc), at=at))
            return None
        code = None
        if response.headers.get("content-type", "").startswith("application/problem+json"):
            code = response.json().get("code")
        self.answers.append(
            Answer(
                name,
                response.status_code,
                response.headers.get("content-type", ""),
                response.headers.get("retry-after"),
                code,
                at=at,
            )
        )
        return response
