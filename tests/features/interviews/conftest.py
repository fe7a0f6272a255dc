"""Fixtures of the interview tests: the app with the interview kinds, sessions made
through the API, a fake OpenAI-compatible server on a loopback port, and workers
answering with it or with the local provider."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from backend.config import Settings
from backend.features.interviews.handlers import register_interviews
from backend.operations.registry import Registry
from tests.conftest import ApiCaller, test_settings
from tests.fakes.openai_server import FakeOpenAI, serving

TURNS: list[dict[str, Any]] = [
    {
        "question": "Tell me about a system you designed that had to scale.",
        "answer": "I designed the order pipeline at a retailer. We moved from one database "
        "to a queue and three workers, which cut checkout latency by half. I should have "
        "load-tested it earlier.",
        "duration_seconds": 140,
    },
    {
        "question": "How do you handle a disagreement with a colleague?",
        "answer": "Once I was defensive in a design review and it made things worse. Now "
        "I ask questions first and write down the options we both see.",
    },
    {
        "question": "Why do you want to join us?",
        "answer": "Your product is excellent and the engineering blog is impressive.",
        "duration_seconds": 35,
    },
]

FEEDBACK: dict[str, Any] = {
    "overall_score": 72,
    "summary": "You give concrete examples with results; tie them to trade-offs.",
    "strengths": ["Concrete results such as halving checkout latency"],
    "areas_to_improve": ["Name the trade-offs you weighed"],
    "questions": [
        {
            "question_number": 1,
            "score": 80,
            "feedback": "A clear example with a measured result.",
            "suggestion": "Say what you load-tested and what it showed.",
        },
        {
            "question_number": 2,
            "score": 65,
            "feedback": "Honest about a mistake.",
            "suggestion": "Use the STAR structure and end with the outcome.",
        },
        {
            "question_number": 3,
            "score": 60,
            "feedback": "Enthusiastic but generic.",
            "suggestion": "Name one product decision of ours you would have made too.",
        },
    ],
}


@pytest.fixture
def registry() -> Registry:
    registry = Registry()
    register_interviews(registry)
    return registry


@pytest.fixture
def fake() -> FakeOpenAI:
    return FakeOpenAI()


@pytest.fixture
async def openai_settings(fake: FakeOpenAI, database_url: str) -> AsyncIterator[Settings]:
    """Settings whose model is the fake server, served on a loopback port."""
    async with serving(fake) as base_url:
        yield test_settings(
            database_url,
            llm={
                "provider": "openai",
                "api_key": "sk-test-not-a-real-key",
                "base_url": base_url,
                "model": "fake-model",
            },
        )


async def start_session(
    client: httpx.AsyncClient, caller: ApiCaller, turns: list[dict[str, Any]] | None = None
) -> str:
    """A session in progress with ``turns`` (default: TURNS); its id."""
    created = await client.post(
        "/api/v1/sessions",
        json={"role": "Backend engineer", "seniority": "senior", "topic": "System design"},
        headers=caller.headers,
    )
    assert created.status_code == 201, created.text
    session_id: str = created.json()["id"]
    for turn in TURNS if turns is None else turns:
        added = await client.post(
            f"/api/v1/sessions/{session_id}/turns", json=turn, headers=caller.headers
        )
        assert added.status_code == 201, added.text
    return session_id


async def completed_session(
    client: httpx.AsyncClient, caller: ApiCaller, turns: list[dict[str, Any]] | None = None
) -> str:
    session_id = await start_session(client, caller, turns)
    completed = await client.post(f"/api/v1/sessions/{session_id}/complete", headers=caller.headers)
    assert completed.status_code == 200, completed.text
    return session_id


async def ask_for_feedback(
    client: httpx.AsyncClient, caller: ApiCaller, session_id: str
) -> httpx.Response:
    return await client.post(
        f"/api/v1/sessions/{session_id}/generate-feedback", headers=caller.headers
    )


async def wait_done(client: httpx.AsyncClient, caller: ApiCaller, op_id: str) -> dict[str, Any]:
    """The operation once done (long-polled through the API; fails if it is not)."""
    for _ in range(6):
        response = await client.get(
            f"/api/v1/operations/{op_id}/wait", params={"timeout": 10}, headers=caller.headers
        )
        assert response.status_code == 200, response.text
        op: dict[str, Any] = response.json()
        if op["done"]:
            return op
    raise AssertionError(f"operation {op_id} not done: {op['status']}")


async def event_log(
    client: httpx.AsyncClient, caller: ApiCaller, op_id: str
) -> list[tuple[str, dict[str, Any]]]:
    """The events of a finished operation as (type, data), from its event stream."""
    response = await client.get(f"/api/v1/operations/{op_id}/events", headers=caller.headers)
    assert response.status_code == 200, response.text
    events: list[tuple[str, dict[str, Any]]] = []
    kind = ""
    for line in response.text.splitlines():
        if line.startswith("event:"):
            kind = line.removeprefix("event:").strip()
        elif line.startswith("data:"):
            events.append((kind, json.loads(line.removeprefix("data:").strip())))
    return events


def statuses(events: list[tuple[str, dict[str, Any]]]) -> list[str]:
    return [data["status"] for kind, data in events if kind in ("created", "status")]
