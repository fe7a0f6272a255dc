"""Steps of the evaluation journey through HTTP, and what the fake model answers."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import ApiCaller
from tests.features.api import Json, create_person

CRITERIA = ["Teamwork", "Reliability"]

COMMENTS = [
    "Maya always helped the group and explained the maths clearly.",
    "Maya was late to two meetings and should plan her time better.",
    "Great ideas in every session, and Maya listens to everyone.",
    "Maya could share the slides earlier so the rest of us can practise.",
]

SUMMARY: dict[str, Any] = {
    "summary": "Classmates value Maya's help and clear explanations.",
    "strengths": ["Helps the group", "Explains clearly"],
    "improvements": ["Plan time for meetings"],
    "themes": ["teamwork", "time management"],
    "sentiment": "positive",
}


async def create_evaluation(client: httpx.AsyncClient, caller: ApiCaller) -> Json:
    response = await client.post(
        "/api/v1/evaluations",
        json={"title": "Team project", "criteria": CRITERIA},
        headers=caller.headers,
    )
    assert response.status_code == 201, response.text
    body: Json = response.json()
    return body


async def add_students(
    client: httpx.AsyncClient, caller: ApiCaller, evaluation_id: str, names: list[str]
) -> list[Json]:
    students = []
    for name in names:
        person = await create_person(client, caller, name)
        response = await client.post(
            f"/api/v1/evaluations/{evaluation_id}/students",
            json={"person_id": person["id"]},
            headers=caller.headers,
        )
        assert response.status_code == 201, response.text
        students.append(response.json())
    return students


async def give(
    client: httpx.AsyncClient,
    caller: ApiCaller,
    evaluation_id: str,
    giver: Json,
    receiver: Json,
    comment: str = COMMENTS[0],
    scores: dict[str, int] | None = None,
) -> httpx.Response:
    return await client.post(
        f"/api/v1/evaluations/{evaluation_id}/feedback",
        json={
            "from": giver["id"],
            "to": receiver["id"],
            "scores": scores or {"Teamwork": 4, "Reliability": 3},
            "comment": comment,
        },
        headers=caller.headers,
    )


def student_path(evaluation_id: str, student: Json) -> str:
    return f"/api/v1/evaluations/{evaluation_id}/students/{student['id']}"
