"""Report periods: a month (`2026-10`), a quarter (`2026-Q3`), or a custom range of days,
and the period before each, which the trend compares against."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

from backend.features.reports.exceptions import (
    InvalidPeriod,
    PeriodInFuture,
    PeriodRangeInverted,
    PeriodRangeNotAllowed,
    PeriodRangeRequired,
    PeriodTooLong,
)

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_QUARTER = re.compile(r"^(\d{4})-[Qq](\d)$")
CUSTOM = "custom"
# Reports are about recorded work: years outside this range are typing errors.
MIN_YEAR, MAX_YEAR = 1900, 9998


class PeriodKind(StrEnum):
    month = "month"
    quarter = "quarter"
    custom = "custom"


@dataclass(frozen=True)
class Period:
    """Whole UTC days from ``start`` up to, not including, ``end``."""

    kind: PeriodKind
    start: date
    end: date

    @property
    def key(self) -> str:
        """The period's name in URLs, cache rows and deduplication keys."""
        if self.kind is PeriodKind.month:
            return f"{self.start.year:04d}-{self.start.month:02d}"
        if self.kind is PeriodKind.quarter:
            return f"{self.start.year:04d}-Q{(self.start.month - 1) // 3 + 1}"
        return f"{self.start.isoformat()}..{self.last_day.isoformat()}"

    @property
    def last_day(self) -> date:
        return self.end - timedelta(days=1)

    def previous(self) -> Period:
        """The period just before: the month or quarter before, or as many days before."""
        if self.kind is PeriodKind.month:
            return month(*_months_before(self.start, 1))
        if self.kind is PeriodKind.quarter:
            year, first = _months_before(self.start, 3)
            return quarter(year, (first - 1) // 3 + 1)
        days = self.end - self.start
        return Period(PeriodKind.custom, self.start - days, self.start)


def month(year: int, number: int) -> Period:
    start = date(year, number, 1)
    return Period(PeriodKind.month, start, _first_of(*_months_after(start, 1)))


def quarter(year: int, number: int) -> Period:
    start = date(year, 3 * (number - 1) + 1, 1)
    return Period(PeriodKind.quarter, start, _first_of(*_months_after(start, 3)))


def _months_after(day: date, count: int) -> tuple[int, int]:
    index = day.year * 12 + day.month - 1 + count
    return index // 12, index % 12 + 1


def _months_before(day: date, count: int) -> tuple[int, int]:
    return _months_after(day, -count)


def _first_of(year: int, number: int) -> date:
    return date(year, number, 1)


def parse_period(
    text: str, first: date | None, last: date | None, *, today: date, max_days: int
) -> Period:
    """The period a request names; every way it can be wrong has a code of its own.

    ``custom`` takes ``from`` and ``to`` (both days included); a month or a quarter
    takes neither. A period that has not begun yet has nothing to report.
    """
    if text == CUSTOM:
        period = _custom(first, last, max_days)
    else:
        if first is not None or last is not None:
            raise PeriodRangeNotAllowed()
        period = _named(text)
    if period.start > today:
        raise PeriodInFuture(period.key)
    return period


def _named(text: str) -> Period:
    if found := _MONTH.match(text):
        year, number = int(found.group(1)), int(found.group(2))
        if MIN_YEAR <= year <= MAX_YEAR and 1 <= number <= 12:
            return month(year, number)
    elif found := _QUARTER.match(text):
        year, number = int(found.group(1)), int(found.group(2))
        if MIN_YEAR <= year <= MAX_YEAR and 1 <= number <= 4:
            return quarter(year, number)
    raise InvalidPeriod(text)


def _custom(first: date | None, last: date | None, max_days: int) -> Period:
    if first is None or last is None:
        raise PeriodRangeRequired()
    if first > last:
        raise PeriodRangeInverted()
    if (last - first).days + 1 > max_days:
        raise PeriodTooLong(max_days)
    if first.year < MIN_YEAR or last.year > MAX_YEAR:
        raise InvalidPeriod(CUSTOM)
    return Period(PeriodKind.custom, first, last + timedelta(days=1))
