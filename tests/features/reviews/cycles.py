"""Steps of the review journey through HTTP, and what the fake model answers."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import ApiCaller
from tests.features.api import Json, create_person

COMPETENCIES = ["Communication", "Delivery"]

STRENGTHS = [
    "Sam explains complex designs clearly and helps everyone in code reviews.",
    "Sam is a reliable teammate who always keeps promises to the customer.",
    "Sam mentors new engineers with patience and great care.",
    "Sam writes thorough documentation that the whole team relies on.",
]
IMPROVEMENTS = [
    "Sam could share progress with the wider team more often.",
    "Deadlines sometimes slip when Sam takes on too much work.",
    "Sam should delegate the release notes instead of writing them alone.",
    "Sam could speak up earlier when a plan looks risky.",
]

SUMMARY_A: dict[str, Any] = {
    "summary": "Sam is a clear communicator and a reliable teammate.",
    "strengths": ["Clear explanations", "Reliable delivery"],
    "improvements": ["Share progress more often"],
    "themes": ["communication", "delivery"],
    "sentiment": "positive",
}
SUMMARY_B: dict[str, Any] = {
    "summary": "Reviewers agree Sam mentors well and could delegate more.",
    "strengths": ["Mentoring"],
    "improvements": ["Delegate release notes"],
    "themes": ["mentoring"],
    "sentiment": "mixed",
}


async def create_cycle(
    client: httpx.AsyncClient,
    caller: ApiCaller,
    person_id: str | None = None,
    **fields: Any,
) -> Json:
    if person_id is None:
        person_id = (await create_person(client, caller, "Sam Rivera"))["id"]
    body = {"person_id": person_id, "title": "Sam, mid-year", "competencies": COMPETENCIES}
    response = await client.post("/api/v1/cycles", json={**body, **fields}, headers=caller.headers)
    assert response.status_code == 201, response.text
    cycle: Json = response.json()
    return cycle


async def invite(
    client: httpx.AsyncClient,
    caller: ApiCaller,
    cycle_id: str,
    relationship: str = "peer",
    name: str = "Alex Kim",
) -> Json:
    response = await client.post(
        f"/api/v1/cycles/{cycle_id}/reviewers",
        json={"name": name, "relationship": relationship},
        headers=caller.headers,
    )
    assert response.status_code == 201, response.text
    invited: Json = response.json()
    return invited


async def invite_many(
    client: httpx.AsyncClient, caller: ApiCaller, cycle_id: str, relationships: list[str]
) -> list[str]:
    """Tokens of new reviewers with these relationships, in order."""
    return [
        (await invite(client, caller, cycle_id, rel, name=f"Reviewer {i}"))["token"]
        for i, rel in enumerate(relationships)
    ]


def review(index: int = 0, ratings: dict[str, int] | None = None) -> Json:
    return {
        "ratings": ratings or {"Communication": 4, "Delivery": 3},
        "strengths": STRENGTHS[index % len(STRENGTHS)],
        "improvements": IMPROVEMENTS[index % len(IMPROVEMENTS)],
    }


async def submit(client: httpx.AsyncClient, token: str, body: Json | None = None) -> httpx.Response:
    return await client.post(f"/api/v1/reviews/{token}", json=body or review())


async def summary_operation(client: httpx.AsyncClient, caller: ApiCaller, cycle_id: str) -> Any:
    """The cycle's summary operation while pending or processing, else None."""
    cycle = (await client.get(f"/api/v1/cycles/{cycle_id}", headers=caller.headers)).json()
    return cycle["summary_operation"]


async def get_summary(client: httpx.AsyncClient, caller: ApiCaller, cycle_id: str) -> Json:
    response = await client.get(f"/api/v1/cycles/{cycle_id}/summary", headers=caller.headers)
    assert response.status_code == 200, response.text
    body: Json = response.json()
    return body
