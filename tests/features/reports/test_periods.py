"""Periods: months, quarters and custom ranges, the period before each, and every
malformed period refused with its own code before anything is written."""

from __future__ import annotations

from datetime import date

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.features.reports.exceptions import InvalidPeriod
from backend.features.reports.periods import Period, PeriodKind, parse_period
from backend.operations.models import Operation
from tests.conftest import ApiCaller
from tests.features.reports.data import Subject

TODAY = date(2026, 11, 23)


def parse(text: str, first: date | None = None, last: date | None = None) -> Period:
    return parse_period(text, first, last, today=TODAY, max_days=366)


def test_months_quarters_and_ranges_name_whole_days_and_the_period_before() -> None:
    october = parse("2026-10")
    q1 = parse("2026-q1")
    span = parse("custom", date(2026, 3, 1), date(2026, 3, 10))
    january = parse("2026-01")

    assert (october.kind, october.start, october.end) == (
        PeriodKind.month,
        date(2026, 10, 1),
        date(2026, 11, 1),
    )
    assert october.previous().key == "2026-09"
    assert january.previous().key == "2025-12"
    assert (q1.key, q1.end) == ("2026-Q1", date(2026, 4, 1))
    assert q1.previous().key == "2025-Q4"
    assert q1.previous().start == date(2025, 10, 1)
    assert span.key == "2026-03-01..2026-03-10"
    assert span.previous().key == "2026-02-19..2026-02-28"
    assert parse("custom", date(2026, 3, 1), date(2026, 3, 1)).end == date(2026, 3, 2)


@pytest.mark.parametrize("text", ["2026-13", "2026-00", "2026-Q5", "2026-Q0", "26-10", "last"])
def test_a_malformed_period_is_refused(text: str) -> None:
    with pytest.raises(InvalidPeriod):
        parse(text)


@pytest.mark.parametrize(
    ("period", "params", "code"),
    [
        ("2026-13", {}, "INVALID_PERIOD"),
        ("2026-Q5", {}, "INVALID_PERIOD"),
        ("october", {}, "INVALID_PERIOD"),
        ("custom", {}, "PERIOD_RANGE_REQUIRED"),
        ("custom", {"from": "2026-10-01"}, "PERIOD_RANGE_REQUIRED"),
        ("custom", {"from": "2026-10-02", "to": "2026-10-01"}, "PERIOD_RANGE_INVERTED"),
        ("custom", {"from": "2024-01-01", "to": "2026-01-01"}, "PERIOD_TOO_LONG"),
        ("custom", {"from": "2026-10-01", "to": "2026-10-32"}, "VALIDATION_ERROR"),
        ("2026-10", {"from": "2026-10-01", "to": "2026-10-02"}, "PERIOD_RANGE_NOT_ALLOWED"),
        ("9000-01", {}, "PERIOD_IN_FUTURE"),
    ],
)
async def test_a_bad_period_is_a_problem_with_a_stable_code_and_creates_nothing(
    client: httpx.AsyncClient,
    admin: ApiCaller,
    sam: Subject,
    sessionmaker: async_sessionmaker[AsyncSession],
    period: str,
    params: dict[str, str],
    code: str,
) -> None:
    answer = await client.get(sam.path(period), params=params, headers=admin.headers)

    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["code"] == code
    async with sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(Operation)) == 0


async def test_a_custom_period_is_its_own_report(
    client: httpx.AsyncClient, admin: ApiCaller, sam: Subject
) -> None:
    params = {"from": "2026-10-01", "to": "2026-10-15"}

    custom = await client.get(sam.path("custom"), params=params, headers=admin.headers)
    month = await client.get(sam.path("2026-10"), headers=admin.headers)

    assert (custom.status_code, month.status_code) == (202, 202)
    assert custom.json()["id"] != month.json()["id"]
