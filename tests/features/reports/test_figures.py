"""A report's figures are computed exactly from what the person received in the period
and the one before; only the narrative comes from the model."""

from __future__ import annotations

from fractions import Fraction

import httpx

from backend.auth.models import Role
from backend.config import Settings
from backend.features.reports.figures import measure, rounded
from backend.features.reports.schemas import ReportOut, Trend
from backend.operations.registry import Registry
from tests.conftest import ApiCaller
from tests.factories import running_worker
from tests.fakes.openai_server import FakeOpenAI, Reply
from tests.features.api import wait_done
from tests.features.conftest import KeyOfTenant
from tests.features.reports.data import NARRATIVE, Subject


def test_means_round_half_away_from_zero_from_the_exact_fraction() -> None:
    assert rounded(Fraction(25, 8)) == 3.13
    assert rounded(Fraction(-1, 8)) == -0.13
    assert rounded(Fraction(11, 3)) == 3.67
    assert rounded(Fraction(0)) == 0.0


def test_a_measure_compares_exact_means_with_the_period_before() -> None:
    assert measure([4, 5, 2], [3]).model_dump() == {
        "average": 3.67,
        "count": 3,
        "previous_average": 3.0,
        "change": 0.67,
        "trend": Trend.up,
    }
    assert measure([5], [5]).trend is Trend.steady
    assert measure([1], []).trend is Trend.new
    assert measure([], [4]).model_dump() == {
        "average": None,
        "count": 0,
        "previous_average": 4.0,
        "change": None,
        "trend": None,
    }


async def test_the_report_counts_and_averages_what_was_received_in_the_period(
    client: httpx.AsyncClient,
    admin: ApiCaller,
    key_of_tenant: KeyOfTenant,
    sam: Subject,
    database_url: str,
    registry: Registry,
    model_settings: Settings,
    fake: FakeOpenAI,
) -> None:
    candidate = await key_of_tenant(Role.member)
    await sam.link(candidate.principal_id)
    # 2026-Q3
    await sam.review("2026-07-10", {"Communication": 4, "Delivery": 3}, strengths="Calm lead.")
    await sam.review("2026-08-20", {"Communication": 5, "Delivery": 4})
    await sam.review("2026-08-21", {"Communication": 1}, relationship="self")
    await sam.peer_feedback("2026-09-30T23:59", {"Communication": 2, "Teamwork": 5})
    await sam.interview(candidate.principal_id, "2026-07-15", 70)
    await sam.interview(candidate.principal_id, "2026-09-01", 81)
    # After the period, and in the period before (2026-Q2)
    await sam.review("2026-10-01T00:00", {"Communication": 1}, strengths="Not this quarter.")
    await sam.review("2026-06-30T23:00", {"Communication": 3, "Delivery": 4})
    await sam.peer_feedback("2026-04-01", {"Teamwork": 5})
    await sam.interview(candidate.principal_id, "2026-05-01", 90)
    fake.script(Reply.json(NARRATIVE))

    queued = await client.get(sam.path("2026-Q3"), headers=admin.headers)
    async with running_worker(database_url, registry, model_settings):
        done = await wait_done(client, admin, queued.json()["id"])
    report = await client.get(sam.path("2026-Q3"), headers=admin.headers)

    assert queued.status_code == 202, queued.text
    assert done["status"] == "completed", done
    assert report.status_code == 200, report.text
    body = report.json()
    ReportOut.model_validate(body)
    figures = body["figures"]
    assert figures["counts"] == {"reviews": 2, "evaluation_feedback": 1, "interview_sessions": 2}
    assert figures["previous_counts"] == {
        "reviews": 1,
        "evaluation_feedback": 1,
        "interview_sessions": 1,
    }
    assert figures["competencies"] == [
        {
            "competency": "Communication",
            "average": 3.67,
            "count": 3,
            "previous_average": 3.0,
            "change": 0.67,
            "trend": "up",
        },
        {
            "competency": "Delivery",
            "average": 3.5,
            "count": 2,
            "previous_average": 4.0,
            "change": -0.5,
            "trend": "down",
        },
        {
            "competency": "Teamwork",
            "average": 5.0,
            "count": 1,
            "previous_average": 5.0,
            "change": 0.0,
            "trend": "steady",
        },
    ]
    # 23/6 against 12/3: the change is rounded from the exact difference (-1/6).
    assert figures["overall_rating"] == {
        "average": 3.83,
        "count": 6,
        "previous_average": 4.0,
        "change": -0.17,
        "trend": "down",
    }
    assert figures["interview_score"] == {
        "average": 75.5,
        "count": 2,
        "previous_average": 90.0,
        "change": -14.5,
        "trend": "down",
    }
    assert body["period"] == {
        "key": "2026-Q3",
        "kind": "quarter",
        "start": "2026-07-01",
        "end": "2026-09-30",
    }
    assert body["previous_period"]["key"] == "2026-Q2"
    assert body["narrative"] == NARRATIVE
    assert body["generated_by"]["provider"] == "openai"
    assert body["generated_by"]["prompt"] == "person_report"
    assert body["sources"]["latest_at"].startswith("2026-09-30T23:59")
    assert (body["fresh"], body["refreshing"], body["refresh_allowed"]) == (True, False, True)
    assert body["refresh_operation"] is None
    assert len(fake.requests) == 1
    user = fake.requests[0]["messages"][1]["content"]
    assert "- Communication: 3.67 (3.00, up)" in user
    assert "- Overall: 3.83 (4.00, down)" in user
    assert "Practice interview score from 0 to 100: 75.50 (90.00, down)" in user
    assert "Calm lead." in user
    assert "Not this quarter." not in user
    assert "Name the trade-offs you weighed" in user


async def test_a_period_without_feedback_is_reported_without_asking_the_model(
    client: httpx.AsyncClient,
    admin: ApiCaller,
    sam: Subject,
    database_url: str,
    registry: Registry,
    model_settings: Settings,
    fake: FakeOpenAI,
) -> None:
    await sam.review("2026-09-15", {"Communication": 4})

    queued = await client.get(sam.path("2026-10"), headers=admin.headers)
    async with running_worker(database_url, registry, model_settings):
        done = await wait_done(client, admin, queued.json()["id"])
    report = (await client.get(sam.path("2026-10"), headers=admin.headers)).json()

    assert done["result"]["model_called"] is False
    assert report["narrative"] is None and report["generated_by"] is None
    assert report["figures"]["counts"]["reviews"] == 0
    assert report["figures"]["competencies"] == [
        {
            "competency": "Communication",
            "average": None,
            "count": 0,
            "previous_average": 4.0,
            "change": None,
            "trend": None,
        }
    ]
    assert fake.requests == []


async def test_the_local_provider_writes_the_narrative_from_the_feedback_offline(
    client: httpx.AsyncClient,
    admin: ApiCaller,
    sam: Subject,
    database_url: str,
    registry: Registry,
    settings: Settings,
) -> None:
    await sam.review(
        "2026-10-03",
        {"Communication": 4},
        strengths="Sam explains complex designs clearly and helps new colleagues.",
        improvements="Sam should delegate more and plan releases earlier.",
    )

    queued = await client.get(sam.path("2026-10"), headers=admin.headers)
    async with running_worker(database_url, registry, settings):
        await wait_done(client, admin, queued.json()["id"])
    report = (await client.get(sam.path("2026-10"), headers=admin.headers)).json()

    narrative = report["narrative"]
    assert report["generated_by"]["provider"] == "local"
    assert narrative["headline"] and narrative["summary"]
    written = "Sam explains complex designs clearly and helps new colleagues."
    assert written in narrative["highlights"] or written in narrative["summary"]
