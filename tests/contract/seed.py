"""Real rows for the contract run: one of each resource, made through the API by an
admin of the tenant, so generated requests for their ids reach real rows."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import httpx

from tests.conftest import ApiCaller
from tests.features.api import Json, create_person, link, wait_done
from tests.features.evaluations.classes import add_students, create_evaluation, give
from tests.features.reviews.cycles import create_cycle, invite, review, submit

TURN: Json = {
    "question": "Tell me about a system you designed that had to scale.",
    "answer": "I designed the order pipeline at a retailer. We moved from one database to a "
    "queue and three workers, which cut checkout latency by half.",
    "duration_seconds": 140,
}

NOTES = b"Quarterly planning notes.\nThe team ships the billing rewrite in March.\n"


@dataclass
class SeededRows:
    """Real values of each path parameter, by parameter name."""

    values: dict[str, list[str]] = field(default_factory=dict)

    def add(self, name: str, value: str) -> None:
        self.values.setdefault(name, []).append(value)

    @staticmethod
    def allows(name: str, value: object) -> bool:
        """Whether a generated value is one the schema allows for this parameter: a
        canonical UUID for ids, a short non-empty string otherwise."""
        if not isinstance(value, str):
            return False
        if name.endswith("_id"):
            try:
                return str(uuid.UUID(value)) == value.lower()
            except ValueError:
                return False
        return 0 < len(value) <= 40


async def seed(client: httpx.AsyncClient, admin: ApiCaller, member: ApiCaller) -> SeededRows:
    """One person with a linked principal, a review cycle with a submitted review, an
    evaluation with feedback and a batch of summaries, a completed interview session
    with its feedback, a document, and a webhook endpoint; finished operations among
    them."""
    rows = SeededRows()
    person = await create_person(client, admin, "Sam Rivera")
    rows.add("person_id", person["id"])
    await link(client, admin, person["id"], member)
    rows.add("principal_id", str(member.principal_id))
    for period in ("2026-10", "2026-Q3", "custom"):
        rows.add("period", period)

    cycle = await create_cycle(client, admin, person_id=person["id"])
    rows.add("cycle_id", cycle["id"])
    for name in ("Alex Kim", "Robin Ortiz"):
        reviewer = await invite(client, admin, cycle["id"], name=name)
        rows.add("reviewer_id", reviewer["id"])
        rows.add("token", reviewer["token"])
    answer = await submit(client, reviewer["token"], review())
    assert answer.status_code == 201, answer.text

    evaluation = await create_evaluation(client, admin)
    rows.add("evaluation_id", evaluation["id"])
    giver, receiver = await add_students(client, admin, evaluation["id"], ["Maya", "Noor"])
    for student in (giver, receiver):
        rows.add("student_id", student["id"])
    answer = await give(client, admin, evaluation["id"], giver, receiver)
    assert answer.status_code == 201, answer.text
    batch = await _accepted(
        client, admin, f"/api/v1/evaluations/{evaluation['id']}/summaries/generate"
    )
    if batch.get("batch"):
        rows.add("batch_id", batch["batch"]["id"])

    session = await _created(
        client,
        admin,
        "/api/v1/sessions",
        {"role": "Backend engineer", "seniority": "senior", "topic": "System design"},
    )
    rows.add("session_id", session["id"])
    await _created(client, admin, f"/api/v1/sessions/{session['id']}/turns", TURN)
    completed = await client.post(
        f"/api/v1/sessions/{session['id']}/complete", headers=admin.headers
    )
    assert completed.status_code == 200, completed.text
    feedback = await _accepted(client, admin, f"/api/v1/sessions/{session['id']}/generate-feedback")
    rows.add("operation_id", feedback["id"])
    await wait_done(client, admin, feedback["id"])

    uploaded = await client.post(
        "/api/v1/documents",
        files={"file": ("notes.txt", NOTES, "text/plain")},
        headers=admin.headers,
    )
    assert uploaded.status_code == 202, uploaded.text
    rows.add("document_id", uploaded.json()["id"])
    rows.add("operation_id", uploaded.json()["operation"]["id"])

    endpoint = await _created(
        client,
        admin,
        "/api/v1/webhook-endpoints",
        {"url": "http://127.0.0.1:9/hooks", "event_types": ["operation.failed"]},
    )
    rows.add("endpoint_id", endpoint["id"])
    return rows


async def _created(client: httpx.AsyncClient, caller: ApiCaller, path: str, body: Json) -> Json:
    response = await client.post(path, json=body, headers=caller.headers)
    assert response.status_code == 201, response.text
    created: Json = response.json()
    return created


async def _accepted(client: httpx.AsyncClient, caller: ApiCaller, path: str) -> Json:
    response = await client.post(path, headers=caller.headers)
    assert response.status_code == 202, response.text
    accepted: Json = response.json()
    return accepted
