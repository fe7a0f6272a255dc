"""How the matrix calls each route: a valid request naming real resources of the owner
tenant, so every cell reaches the route's authorization decision rather than a 422.

A cell that would change something its neighbours read gets resources of its own
(a fresh operation to delete, a fresh session to complete, a fresh reviewer to revoke).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.authorization.table import Credential
from tests.authorization.world import HOOK_URL, PERIOD, TEXT, World, listed_ids
from tests.features.documents.conftest import uploaded
from tests.features.evaluations.classes import COMMENTS, CRITERIA, add_students
from tests.features.interviews.conftest import TURNS, completed_session, start_session
from tests.features.reviews.cycles import COMPETENCIES, invite

Check = Callable[[World, Credential, httpx.Response], None]


@dataclass(frozen=True)
class Call:
    """What one cell sends: path parameters beyond the defaults, and a body."""

    path: dict[str, str] = field(default_factory=dict)
    json: Any = None
    files: dict[str, tuple[str, bytes, str]] | None = None
    check: Check | None = None


Builder = Callable[[World, Credential], Awaitable[Call]]

# Which resource of World.ids a path parameter names, unless a builder says otherwise.
DEFAULT_IDS = {
    "operation_id": "operation",
    "batch_id": "batch",
    "endpoint_id": "endpoint",
    "session_id": "session",
    "person_id": "person",
    "cycle_id": "cycle",
    "evaluation_id": "evaluation",
    "student_id": "student",
    "document_id": "document",
}


def url(world: World, who: Credential, template: str, call: Call) -> str:
    values = {name: world.ids[key] for name, key in DEFAULT_IDS.items()}
    values["period"] = PERIOD
    if who in world.tokens:
        values["token"] = world.tokens[who]
    return template.format(**{**values, **call.path})


def lists(resource: str) -> Check:
    """A list shows the owner's row to the owner's callers and never to another tenant."""

    def check(world: World, who: Credential, response: httpx.Response) -> None:
        shown = world.ids[resource] in listed_ids(response.json())
        assert shown is (who is not Credential.other_tenant), response.text

    return check


def own_usage_only(world: World, who: Credential, response: httpx.Response) -> None:
    calls = response.json()["calls"]
    assert (calls > 0) is (who is not Credential.other_tenant), response.text


async def plain(world: World, who: Credential) -> Call:
    return Call()


def sends(json: Any = None, **files: tuple[str, bytes, str]) -> Builder:
    async def build(world: World, who: Credential) -> Call:
        return Call(json=json, files=files or None)

    return build


def checked(check: Check) -> Builder:
    async def build(world: World, who: Credential) -> Call:
        return Call(check=check)

    return build


def names(**ids: str) -> Builder:
    """Path parameters naming other resources of World.ids than the defaults."""

    async def build(world: World, who: Credential) -> Call:
        return Call(path={name: world.ids[key] for name, key in ids.items()})

    return build


async def fresh_operation(world: World, who: Credential) -> Call:
    return Call(path={"operation_id": await world.finished_operation()})


async def fresh_endpoint(world: World, who: Credential) -> Call:
    created = await world.client.post(
        "/api/v1/webhook-endpoints", json={"url": HOOK_URL}, headers=world.admin.headers
    )
    assert created.status_code == 201, created.text
    return Call(path={"endpoint_id": created.json()["id"]})


async def open_session(world: World, who: Credential) -> Call:
    session_id = await start_session(world.client, world.member, TURNS[:1])
    return Call(path={"session_id": session_id})


async def session_taking_turns(world: World, who: Credential) -> Call:
    call = await open_session(world, who)
    return Call(path=call.path, json=TURNS[1])


async def finished_session(world: World, who: Credential) -> Call:
    session_id = await completed_session(world.client, world.member, TURNS[:1])
    return Call(path={"session_id": session_id})


async def linked_principal(world: World, who: Credential) -> Call:
    """The revoked key's principal, linked (again) to a person of its own: unlinking it
    touches nobody another cell relies on."""
    person = world.ids["unlinked_person"]
    principal = str(world.caller(Credential.revoked_key).principal_id)
    linked = await world.client.post(
        f"/api/v1/people/{person}/principals",
        json={"principal_id": principal},
        headers=world.admin.headers,
    )
    assert linked.status_code == 200, linked.text
    return Call(path={"person_id": person, "principal_id": principal})


async def fresh_reviewer(world: World, who: Credential) -> Call:
    invited = await invite(world.client, world.member, world.ids["cycle"], name="Jo Park")
    return Call(path={"reviewer_id": invited["id"]})


async def invitation_token(world: World, who: Credential) -> Call:
    """A new link for a valid token (a review is accepted once per link)."""
    if who is not Credential.valid_token:
        return Call()
    invited = await invite(world.client, world.member, world.ids["cycle"], name="Kai Berg")
    return Call(path={"token": invited["token"]})


async def submitted_review(world: World, who: Credential) -> Call:
    call = await invitation_token(world, who)
    body = {
        "ratings": dict.fromkeys(COMPETENCIES, 4),
        "strengths": "Clear, patient explanations in every design review.",
        "improvements": "Could share progress with the wider team more often.",
    }
    return Call(path=call.path, json=body)


async def new_student(world: World, who: Credential) -> Call:
    person = await world.person("Lena Vogt")
    return Call(json={"person_id": person["id"]})


async def peer_feedback(world: World, who: Credential) -> Call:
    """Feedback between two new students: a pair gives feedback once."""
    giver, receiver = await add_students(
        world.client, world.admin, world.ids["evaluation"], ["Noor Haddad", "Tom Reyes"]
    )
    body = {
        "from": giver["id"],
        "to": receiver["id"],
        "scores": dict.fromkeys(CRITERIA, 4),
        "comment": COMMENTS[0],
    }
    return Call(json=body)


async def fresh_document(world: World, who: Credential) -> Call:
    body = await uploaded(world.client, world.member, TEXT, "notes.txt")
    return Call(path={"document_id": body["id"]})


async def extracted_document(world: World, who: Credential) -> Call:
    """The member and the admin each extract their own document again: a pending
    extraction of one would make the other's 409."""
    return Call(path={"document_id": world.ids.get(f"extract:{who}", world.ids["document"])})


async def cycle_of_owner(world: World, who: Credential) -> Call:
    body = {"person_id": world.ids["person"], "title": "Year end", "competencies": COMPETENCIES}
    return Call(json=body)


async def own_person(world: World, who: Credential) -> Call:
    principal = str(world.member.principal_id)
    return Call(json={"principal_id": principal})


V1 = "/api/v1"
SESSION = {"role": "Data engineer", "seniority": "junior", "topic": "Pipelines"}

CALLS: dict[tuple[str, str], Builder] = {
    ("GET", f"{V1}/operations/{{operation_id}}"): plain,
    ("DELETE", f"{V1}/operations/{{operation_id}}"): fresh_operation,
    ("GET", f"{V1}/operations"): checked(lists("operation")),
    ("GET", f"{V1}/operations/{{operation_id}}/wait"): plain,
    ("POST", f"{V1}/operations/{{operation_id}}/cancel"): plain,
    ("GET", f"{V1}/operations/{{operation_id}}/events"): plain,
    ("GET", f"{V1}/batches/{{batch_id}}"): plain,
    ("POST", f"{V1}/webhook-endpoints"): sends({"url": HOOK_URL}),
    ("GET", f"{V1}/webhook-endpoints"): checked(lists("endpoint")),
    ("GET", f"{V1}/webhook-endpoints/{{endpoint_id}}"): plain,
    ("PATCH", f"{V1}/webhook-endpoints/{{endpoint_id}}"): sends({"description": "Billing"}),
    ("DELETE", f"{V1}/webhook-endpoints/{{endpoint_id}}"): fresh_endpoint,
    ("POST", f"{V1}/webhook-endpoints/{{endpoint_id}}/rotate-secret"): plain,
    ("GET", f"{V1}/webhook-endpoints/{{endpoint_id}}/deliveries"): plain,
    ("GET", f"{V1}/usage"): checked(own_usage_only),
    ("POST", f"{V1}/sessions"): sends(SESSION),
    ("GET", f"{V1}/sessions/{{session_id}}"): plain,
    ("POST", f"{V1}/sessions/{{session_id}}/turns"): session_taking_turns,
    ("POST", f"{V1}/sessions/{{session_id}}/complete"): open_session,
    ("POST", f"{V1}/sessions/{{session_id}}/generate-feedback"): finished_session,
    ("GET", f"{V1}/sessions/{{session_id}}/feedback"): plain,
    ("POST", f"{V1}/people"): sends({"name": "Ada Obi"}),
    ("GET", f"{V1}/people"): checked(lists("person")),
    ("GET", f"{V1}/people/{{person_id}}"): plain,
    ("POST", f"{V1}/people/{{person_id}}/principals"): own_person,
    ("DELETE", f"{V1}/people/{{person_id}}/principals/{{principal_id}}"): linked_principal,
    ("GET", f"{V1}/people/{{person_id}}/reports/{{period}}"): plain,
    ("POST", f"{V1}/cycles"): cycle_of_owner,
    ("GET", f"{V1}/cycles/{{cycle_id}}"): plain,
    ("POST", f"{V1}/cycles/{{cycle_id}}/reviewers"): sends({"name": "Jo", "relationship": "peer"}),
    ("POST", f"{V1}/cycles/{{cycle_id}}/reviewers/{{reviewer_id}}/revoke"): fresh_reviewer,
    ("GET", f"{V1}/cycles/{{cycle_id}}/summary"): plain,
    ("POST", f"{V1}/cycles/{{cycle_id}}/summary/generate"): plain,
    ("POST", f"{V1}/cycles/{{cycle_id}}/summary/finalise"): names(cycle_id="finalised_cycle"),
    ("POST", f"{V1}/cycles/{{cycle_id}}/summary/reopen"): names(cycle_id="finalised_cycle"),
    ("GET", f"{V1}/reviews/{{token}}"): invitation_token,
    ("POST", f"{V1}/reviews/{{token}}"): submitted_review,
    ("POST", f"{V1}/evaluations"): sends({"title": "Lab work", "criteria": CRITERIA}),
    ("GET", f"{V1}/evaluations/{{evaluation_id}}"): plain,
    ("POST", f"{V1}/evaluations/{{evaluation_id}}/students"): new_student,
    ("POST", f"{V1}/evaluations/{{evaluation_id}}/feedback"): peer_feedback,
    (
        "POST",
        f"{V1}/evaluations/{{evaluation_id}}/students/{{student_id}}/summary/generate",
    ): plain,
    ("POST", f"{V1}/evaluations/{{evaluation_id}}/summaries/generate"): plain,
    ("GET", f"{V1}/evaluations/{{evaluation_id}}/operations"): plain,
    ("GET", f"{V1}/evaluations/{{evaluation_id}}/students/{{student_id}}/summary"): plain,
    ("GET", f"{V1}/evaluations/{{evaluation_id}}/students/{{student_id}}/quotes"): plain,
    ("POST", f"{V1}/documents"): sends(file=("notes.txt", TEXT, "text/plain")),
    ("GET", f"{V1}/documents/{{document_id}}"): plain,
    ("DELETE", f"{V1}/documents/{{document_id}}"): fresh_document,
    ("GET", f"{V1}/documents/{{document_id}}/text"): plain,
    ("GET", f"{V1}/documents/{{document_id}}/file"): plain,
    ("GET", f"{V1}/documents/{{document_id}}/events"): plain,
    ("POST", f"{V1}/documents/{{document_id}}/extract"): extracted_document,
    ("POST", f"{V1}/documents/{{document_id}}/metadata"): names(document_id="metadata"),
    ("GET", "/healthz"): plain,
    ("GET", "/readyz"): plain,
    ("GET", "/openapi.json"): plain,
    ("GET", "/docs"): plain,
    ("GET", "/docs/oauth2-redirect"): plain,
    ("GET", "/redoc"): plain,
}
