"""Cycles and invitations: a private link per reviewer, shown once, stored hashed."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.features.reviews.models import ReviewCycle, Reviewer
from tests.conftest import ApiCaller
from tests.features.reviews.cycles import COMPETENCIES, create_cycle, invite, review, submit

Sessions = async_sessionmaker[AsyncSession]


async def test_a_manager_creates_a_cycle_about_a_person(
    client: httpx.AsyncClient, admin: ApiCaller
) -> None:
    closes_at = datetime.now(UTC) + timedelta(days=10)

    cycle = await create_cycle(client, admin, closes_at=closes_at.isoformat())

    assert cycle["person"]["name"] == "Sam Rivera"
    assert cycle["competencies"] == COMPETENCIES
    assert datetime.fromisoformat(cycle["closes_at"]) == closes_at
    assert cycle["open"] is True
    assert (cycle["reviewers"], cycle["reviews_submitted"], cycle["summary_operation"]) == (
        [],
        0,
        None,
    )
    assert cycle["links"]["summary"].endswith(f"/api/v1/cycles/{cycle['id']}/summary")


async def test_a_cycle_without_closing_time_stays_open_for_the_configured_days(
    client: httpx.AsyncClient, admin: ApiCaller
) -> None:
    before = datetime.now(UTC)

    cycle = await create_cycle(client, admin)

    closes_at = datetime.fromisoformat(cycle["closes_at"])
    assert before + timedelta(days=30) <= closes_at <= datetime.now(UTC) + timedelta(days=30)


async def test_invalid_cycles_are_refused(client: httpx.AsyncClient, admin: ApiCaller) -> None:
    cycle = await create_cycle(client, admin)
    person_id = cycle["person"]["id"]
    base = {"person_id": person_id, "title": "T", "competencies": ["A"]}

    past = await client.post(
        "/api/v1/cycles", json={**base, "closes_at": "2020-01-01T00:00:00Z"}, headers=admin.headers
    )
    twice = await client.post(
        "/api/v1/cycles", json={**base, "competencies": ["A", "a"]}, headers=admin.headers
    )
    nobody = await client.post(
        "/api/v1/cycles", json={**base, "person_id": str(uuid.uuid4())}, headers=admin.headers
    )

    assert (past.status_code, past.json()["code"]) == (422, "INVALID_CLOSES_AT")
    assert (twice.status_code, twice.json()["code"]) == (422, "VALIDATION_ERROR")
    assert (nobody.status_code, nobody.json()["code"]) == (404, "PERSON_NOT_FOUND")


async def test_an_invitation_shows_its_token_once_and_stores_only_its_hash(
    client: httpx.AsyncClient, admin: ApiCaller, sessionmaker: Sessions
) -> None:
    cycle = await create_cycle(client, admin)

    invited = await invite(client, admin, cycle["id"], "manager", name="Jo Park")
    listed = (await client.get(f"/api/v1/cycles/{cycle['id']}", headers=admin.headers)).json()

    token = invited["token"]
    assert len(token) >= 40
    assert invited["invitation_url"] == f"http://testserver/api/v1/reviews/{token}"
    assert invited["expires_at"] == cycle["closes_at"]
    assert (invited["relationship"], invited["status"]) == ("manager", "invited")
    assert token not in str(listed)
    assert [r["name"] for r in listed["reviewers"]] == ["Jo Park"]
    async with sessionmaker() as session:
        stored = (await session.scalars(select(Reviewer.token_hash))).all()
    assert stored == [hashlib.sha256(token.encode()).hexdigest()]


async def test_a_reviewer_opens_the_invitation_without_a_key(
    client: httpx.AsyncClient, admin: ApiCaller
) -> None:
    cycle = await create_cycle(client, admin)
    token = (await invite(client, admin, cycle["id"], "peer", name="Alex Kim"))["token"]

    response = await client.get(f"/api/v1/reviews/{token}")

    assert response.status_code == 200
    invitation = response.json()
    assert invitation["cycle_title"] == "Sam, mid-year"
    assert invitation["subject"] == "Sam Rivera"
    assert (invitation["reviewer_name"], invitation["relationship"]) == ("Alex Kim", "peer")
    assert invitation["questions"]["competencies"] == COMPETENCIES
    assert invitation["questions"]["rating_scale"]["min"] == 1
    assert invitation["questions"]["rating_scale"]["max"] == 5
    assert invitation["questions"]["strengths"] == "What does Sam Rivera do well?"
    assert invitation["submitted_at"] is None


async def test_a_review_is_accepted_once(client: httpx.AsyncClient, admin: ApiCaller) -> None:
    cycle = await create_cycle(client, admin)
    token = (await invite(client, admin, cycle["id"]))["token"]

    first = await submit(client, token)
    second = await submit(client, token)
    opened = (await client.get(f"/api/v1/reviews/{token}")).json()
    listed = (await client.get(f"/api/v1/cycles/{cycle['id']}", headers=admin.headers)).json()

    assert first.status_code == 201
    assert first.json()["cycle_title"] == "Sam, mid-year"
    assert (second.status_code, second.json()["code"]) == (409, "REVIEW_ALREADY_SUBMITTED")
    assert opened["submitted_at"] == first.json()["submitted_at"]
    assert listed["reviewers"][0]["status"] == "submitted"
    assert listed["reviews_submitted"] == 1


async def test_two_submissions_with_one_link_racing_record_one_review(
    client: httpx.AsyncClient, admin: ApiCaller
) -> None:
    cycle = await create_cycle(client, admin)
    token = (await invite(client, admin, cycle["id"]))["token"]

    answers = await asyncio.gather(*(submit(client, token) for _ in range(5)))

    assert sorted(a.status_code for a in answers) == [201, 409, 409, 409, 409]


async def test_a_wrong_token_is_not_found(client: httpx.AsyncClient, admin: ApiCaller) -> None:
    cycle = await create_cycle(client, admin)
    token = (await invite(client, admin, cycle["id"]))["token"]
    wrong = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")

    opened = await client.get(f"/api/v1/reviews/{wrong}")
    submitted = await submit(client, wrong)

    assert (opened.status_code, opened.json()["code"]) == (404, "INVITATION_NOT_FOUND")
    assert (submitted.status_code, submitted.json()["code"]) == (404, "INVITATION_NOT_FOUND")


async def test_a_revoked_link_is_gone_but_its_review_stays(
    client: httpx.AsyncClient, admin: ApiCaller
) -> None:
    cycle = await create_cycle(client, admin)
    unused = await invite(client, admin, cycle["id"], name="Unused")
    used = await invite(client, admin, cycle["id"], name="Used")
    assert (await submit(client, used["token"])).status_code == 201

    for reviewer in (unused, used):
        revoked = await client.post(
            f"/api/v1/cycles/{cycle['id']}/reviewers/{reviewer['id']}/revoke",
            headers=admin.headers,
        )
        assert revoked.status_code == 200
    opened = await client.get(f"/api/v1/reviews/{unused['token']}")
    submitted = await submit(client, unused["token"])
    listed = (await client.get(f"/api/v1/cycles/{cycle['id']}", headers=admin.headers)).json()

    assert (opened.status_code, opened.json()["code"]) == (410, "INVITATION_REVOKED")
    assert (submitted.status_code, submitted.json()["code"]) == (410, "INVITATION_REVOKED")
    assert [r["status"] for r in listed["reviewers"]] == ["revoked", "submitted"]
    assert listed["reviews_submitted"] == 1


async def test_links_expire_with_their_cycle(
    client: httpx.AsyncClient, admin: ApiCaller, sessionmaker: Sessions
) -> None:
    cycle = await create_cycle(client, admin)
    token = (await invite(client, admin, cycle["id"]))["token"]
    await _close(sessionmaker, cycle["id"])

    opened = await client.get(f"/api/v1/reviews/{token}")
    submitted = await submit(client, token)
    late = await client.post(
        f"/api/v1/cycles/{cycle['id']}/reviewers",
        json={"name": "Late", "relationship": "peer"},
        headers=admin.headers,
    )

    assert (opened.status_code, opened.json()["code"]) == (410, "INVITATION_EXPIRED")
    assert (submitted.status_code, submitted.json()["code"]) == (410, "INVITATION_EXPIRED")
    assert (late.status_code, late.json()["code"]) == (409, "CYCLE_CLOSED")


async def test_every_competency_is_rated_from_one_to_five(
    client: httpx.AsyncClient, admin: ApiCaller
) -> None:
    cycle = await create_cycle(client, admin)
    token = (await invite(client, admin, cycle["id"]))["token"]

    missing = await submit(client, token, review(ratings={"Communication": 4}))
    extra = {"Communication": 4, "Delivery": 4, "X": 1}
    unknown = await submit(client, token, review(ratings=extra))
    off_scale = await submit(client, token, review(ratings={"Communication": 6, "Delivery": 4}))
    blank = await submit(client, token, {**review(), "strengths": "  "})

    assert (missing.status_code, missing.json()["code"]) == (422, "INVALID_RATINGS")
    assert missing.json()["missing"] == ["Delivery"]
    assert unknown.json()["unknown"] == ["X"]
    assert (off_scale.status_code, off_scale.json()["code"]) == (422, "VALIDATION_ERROR")
    assert blank.status_code == 422
    assert (await submit(client, token)).status_code == 201


async def _close(sessionmaker: Sessions, cycle_id: str) -> None:
    async with sessionmaker() as session:
        await session.execute(
            update(ReviewCycle)
            .where(ReviewCycle.id == uuid.UUID(cycle_id))
            .values(closes_at=datetime.now(UTC) - timedelta(seconds=1))
        )
        await session.commit()
