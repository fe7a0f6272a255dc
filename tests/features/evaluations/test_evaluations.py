"""Evaluations, their students, and peer feedback given once per peer."""

from __future__ import annotations

import uuid

import httpx

from backend.auth.models import Role
from tests.conftest import ApiCaller, KeyFactory
from tests.features.api import create_person
from tests.features.evaluations.classes import CRITERIA, add_students, create_evaluation, give


async def test_a_teacher_creates_an_evaluation_with_students(
    client: httpx.AsyncClient, admin: ApiCaller
) -> None:
    evaluation = await create_evaluation(client, admin)
    ana, ben = await add_students(client, admin, evaluation["id"], ["Ana Diaz", "Ben Cho"])

    read = await client.get(f"/api/v1/evaluations/{evaluation['id']}", headers=admin.headers)

    assert evaluation["criteria"] == CRITERIA
    assert evaluation["students"] == []
    body = read.json()
    assert [(s["id"], s["name"], s["feedback_received"]) for s in body["students"]] == [
        (ana["id"], "Ana Diaz", 0),
        (ben["id"], "Ben Cho", 0),
    ]
    assert body["links"]["operations"].endswith(f"/evaluations/{evaluation['id']}/operations")


async def test_a_person_is_a_student_of_an_evaluation_once(
    client: httpx.AsyncClient, admin: ApiCaller, make_caller: KeyFactory
) -> None:
    evaluation = await create_evaluation(client, admin)
    person = await create_person(client, admin, "Ana Diaz")
    url = f"/api/v1/evaluations/{evaluation['id']}/students"
    stranger = await make_caller(role=Role.admin)
    foreign = await create_person(client, stranger, "Not Here")

    first = await client.post(url, json={"person_id": person["id"]}, headers=admin.headers)
    again = await client.post(url, json={"person_id": person["id"]}, headers=admin.headers)
    other_tenant = await client.post(url, json={"person_id": foreign["id"]}, headers=admin.headers)

    assert first.status_code == 201
    assert first.json()["person_id"] == person["id"]
    assert (again.status_code, again.json()["code"]) == (409, "STUDENT_EXISTS")
    assert (other_tenant.status_code, other_tenant.json()["code"]) == (404, "PERSON_NOT_FOUND")


async def test_peer_feedback_is_given_once_per_peer(
    client: httpx.AsyncClient, admin: ApiCaller
) -> None:
    evaluation = await create_evaluation(client, admin)
    ana, ben = await add_students(client, admin, evaluation["id"], ["Ana", "Ben"])

    first = await give(client, admin, evaluation["id"], ana, ben)
    again = await give(client, admin, evaluation["id"], ana, ben)
    back = await give(client, admin, evaluation["id"], ben, ana)

    assert first.status_code == 201
    feedback = first.json()
    assert (feedback["from"], feedback["to"]) == (ana["id"], ben["id"])
    assert feedback["scores"] == {"Teamwork": 4, "Reliability": 3}
    assert (again.status_code, again.json()["code"]) == (409, "FEEDBACK_ALREADY_GIVEN")
    assert back.status_code == 201


async def test_invalid_feedback_is_refused(client: httpx.AsyncClient, admin: ApiCaller) -> None:
    evaluation = await create_evaluation(client, admin)
    ana, ben = await add_students(client, admin, evaluation["id"], ["Ana", "Ben"])
    other = await create_evaluation(client, admin)
    [outsider] = await add_students(client, admin, other["id"], ["Cy"])
    eid = evaluation["id"]

    to_self = await give(client, admin, eid, ana, ana)
    to_outsider = await give(client, admin, eid, ana, outsider)
    to_nobody = await give(client, admin, eid, ana, {"id": str(uuid.uuid4())})
    missing = await give(client, admin, eid, ana, ben, scores={"Teamwork": 4})
    off_scale = await give(client, admin, eid, ana, ben, scores={"Teamwork": 0, "Reliability": 3})

    assert (to_self.status_code, to_self.json()["code"]) == (422, "SELF_FEEDBACK")
    assert (to_outsider.status_code, to_outsider.json()["code"]) == (404, "STUDENT_NOT_FOUND")
    assert to_nobody.json()["code"] == "STUDENT_NOT_FOUND"
    assert (missing.status_code, missing.json()["code"]) == (422, "INVALID_SCORES")
    assert missing.json()["missing"] == ["Reliability"]
    assert (off_scale.status_code, off_scale.json()["code"]) == (422, "VALIDATION_ERROR")
    assert (await give(client, admin, eid, ana, ben)).status_code == 201
