"""The resources the matrix asks about, created once through the API: an owner
tenant with an admin, a member, a viewer and a revoked key, everything each route can
name (finished by a real worker with the local provider), and another tenant's admin."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.auth import service as auth
from backend.auth.models import ApiKey, Role
from backend.config import Settings
from backend.db import Base
from backend.features.reviews.models import ReviewCycle
from backend.models import import_all_models
from backend.operations.models import Operation
from backend.operations.registry import Registry
from backend.operations.states import Status
from tests import database
from tests.authorization.table import Credential
from tests.conftest import ApiCaller, create_caller
from tests.factories import running_worker, submit
from tests.features.api import Json, create_person, eventually, link
from tests.features.documents.conftest import uploaded
from tests.features.evaluations.classes import add_students, create_evaluation, give
from tests.features.interviews.conftest import completed_session
from tests.features.reviews.cycles import create_cycle, invite, review
from tests.features.reviews.cycles import submit as submit_review
from tests.operations.rows import move_to

PERIOD = "2026-10"
HOOK_URL = "http://127.0.0.1:9/hook"
TEXT = b"Quarterly notes. The team shipped the billing service and halved the error rate."


@dataclass
class World:
    """Keys and resource ids; ``client`` talks to the app under test."""

    client: httpx.AsyncClient
    sessionmaker: async_sessionmaker[AsyncSession]
    registry: Registry
    keys: dict[Credential, ApiCaller] = field(default_factory=dict)
    ids: dict[str, str] = field(default_factory=dict)
    tokens: dict[Credential, str] = field(default_factory=dict)

    def headers(self, who: Credential) -> dict[str, str]:
        """The Authorization header of an API-key credential (none for ``no_key``)."""
        caller = self.keys.get(who)
        return {} if caller is None else caller.headers

    def caller(self, who: Credential) -> ApiCaller:
        return self.keys[who]

    @property
    def admin(self) -> ApiCaller:
        return self.keys[Credential.admin]

    @property
    def member(self) -> ApiCaller:
        return self.keys[Credential.member]

    async def finished_operation(self) -> str:
        """A new completed operation of the owner tenant, started by the member."""
        op_id = await submit(self.sessionmaker, self.registry, self.member, "test.echo")
        await move_to(self.sessionmaker, op_id, Status.completed)
        return str(op_id)

    async def person(self, name: str) -> Json:
        return await create_person(self.client, self.admin, name)


async def build(
    client: httpx.AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    registry: Registry,
    settings: Settings,
    database_url: str,
) -> World:
    """Everything the matrix names, with every piece of AI work finished."""
    world = World(client, sessionmaker, registry)
    await _keys(world)
    sam = await world.person("Sam Rivera")
    world.ids["person"] = sam["id"]
    await link(client, world.admin, sam["id"], world.member)
    spare = await world.person("Robin Vale")
    world.ids["unlinked_person"] = spare["id"]
    await _cycles(world)
    await _evaluation(world)
    await _interviews(world)
    await _documents(world)
    report = await client.get(
        f"/api/v1/people/{sam['id']}/reports/{PERIOD}", headers=world.member.headers
    )
    assert report.status_code == 202, report.text
    async with running_worker(database_url, registry, settings):
        await eventually(lambda: _all_finished(sessionmaker), "all work finished", timeout=90)
    await _expire_invitation(world)
    await _after_work(world)
    return world


async def _keys(world: World) -> None:
    tenant = database.unique_name("owner")
    for who, role in (
        (Credential.admin, Role.admin),
        (Credential.member, Role.member),
        (Credential.viewer, Role.viewer),
        (Credential.revoked_key, Role.admin),
    ):
        world.keys[who] = await create_caller(world.sessionmaker, tenant, role)
    world.keys[Credential.other_tenant] = await create_caller(world.sessionmaker, role=Role.admin)
    async with world.sessionmaker() as session:
        revoked = world.keys[Credential.revoked_key]
        key_id = await session.scalar(
            select(ApiKey.id).where(ApiKey.principal_id == revoked.principal_id)
        )
        await auth.revoke_key(session, str(key_id))
        await session.commit()


async def _cycles(world: World) -> None:
    """Cycle ``cycle`` (reads, invitations, generation) and ``finalised_cycle``
    (finalise and reopen), both with two reviews, managed by the member."""
    client, member, person = world.client, world.member, world.ids["person"]
    for name in ("cycle", "finalised_cycle"):
        cycle = await create_cycle(client, member, person_id=person)
        world.ids[name] = cycle["id"]
        for i in range(2):
            token = (await invite(client, member, cycle["id"], name=f"Reviewer {i}"))["token"]
            submitted = await submit_review(client, token, review(i))
            assert submitted.status_code == 201, submitted.text
            world.tokens[Credential.used_invitation] = token
    cycle_id = world.ids["cycle"]
    revoked = await invite(client, member, cycle_id, name="Withdrawn")
    await client.post(
        f"/api/v1/cycles/{cycle_id}/reviewers/{revoked['id']}/revoke", headers=member.headers
    )
    world.tokens[Credential.revoked_invitation] = revoked["token"]
    world.tokens[Credential.unknown_token] = "not-a-token-anyone-was-given"
    closing = await create_cycle(client, member, person_id=person)
    world.ids["closed_cycle"] = closing["id"]
    world.tokens[Credential.expired_invitation] = (await invite(client, member, closing["id"]))[
        "token"
    ]


async def _expire_invitation(world: World) -> None:
    """Close a cycle as time would (a cycle cannot be created already closed)."""
    async with world.sessionmaker() as session:
        await session.execute(
            update(ReviewCycle)
            .where(ReviewCycle.id == uuid.UUID(world.ids["closed_cycle"]))
            .values(closes_at=func.now() - func.make_interval(0, 0, 0, 1))
        )
        await session.commit()


async def _evaluation(world: World) -> None:
    """An evaluation of Sam (the member's person) and Ben, with feedback both ways and
    their summaries generated as one batch."""
    client, admin = world.client, world.admin
    evaluation = await create_evaluation(client, admin)
    world.ids["evaluation"] = evaluation["id"]
    ben = await add_students(client, admin, evaluation["id"], ["Ben Okafor"])
    added = await client.post(
        f"/api/v1/evaluations/{evaluation['id']}/students",
        json={"person_id": world.ids["person"]},
        headers=admin.headers,
    )
    assert added.status_code == 201, added.text
    sam = added.json()
    world.ids["student"] = sam["id"]
    for giver, receiver in ((ben[0], sam), (sam, ben[0])):
        given = await give(client, admin, evaluation["id"], giver, receiver)
        assert given.status_code == 201, given.text
    queued = await client.post(
        f"/api/v1/evaluations/{evaluation['id']}/summaries/generate", headers=admin.headers
    )
    assert queued.status_code == 202, queued.text
    world.ids["batch"] = queued.json()["batch"]["id"]


async def _interviews(world: World) -> None:
    client, member = world.client, world.member
    done = await completed_session(client, member)
    world.ids["session"] = done
    asked = await client.post(f"/api/v1/sessions/{done}/generate-feedback", headers=member.headers)
    assert asked.status_code == 202, asked.text


async def _documents(world: World) -> None:
    """``document`` for reads; one extracted document per caller that may extract again
    or regenerate metadata, so no cell finds another's step still pending."""
    for name in ("document", "extract:member", "extract:admin", "metadata"):
        body = await uploaded(world.client, world.member, TEXT, "notes.txt")
        world.ids[name] = body["id"]


async def _after_work(world: World) -> None:
    """What must not be touched by the worker: a finished operation and a webhook
    endpoint (with no deliveries to try)."""
    world.ids["operation"] = await world.finished_operation()
    created = await world.client.post(
        "/api/v1/webhook-endpoints", json={"url": HOOK_URL}, headers=world.admin.headers
    )
    assert created.status_code == 201, created.text
    world.ids["endpoint"] = created.json()["id"]


async def _all_finished(sessionmaker: async_sessionmaker[AsyncSession]) -> bool:
    async with sessionmaker() as session:
        active = await session.scalar(
            select(func.count()).where(
                Operation.status.in_([Status.pending.value, Status.processing.value])
            )
        )
    return active == 0


async def footprint(sessionmaker: async_sessionmaker[AsyncSession]) -> dict[str, int]:
    """How many rows each table holds: a refused request must leave every count as it
    was (it creates and deletes nothing). ``auth_failures`` is left out: counting a refused
    key is that refusal's own record."""
    import_all_models()
    skipped = {"alembic_version", "auth_failures"}
    tables = [t for t in Base.metadata.sorted_tables if t.name not in skipped]
    counts = [select(func.count()).select_from(t).scalar_subquery().label(t.name) for t in tables]
    async with sessionmaker() as session:
        row = (await session.execute(select(*counts))).one()
    return dict(row._mapping)


def listed_ids(body: Any) -> set[str]:
    """Every ``id`` anywhere in a JSON answer."""
    found: set[str] = set()
    if isinstance(body, dict):
        for key, value in body.items():
            if key == "id" and isinstance(value, str):
                found.add(value)
            found |= listed_ids(value)
    elif isinstance(body, list):
        for item in body:
            found |= listed_ids(item)
    return found
