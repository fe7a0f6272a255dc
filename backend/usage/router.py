"""GET /api/v1/usage: a tenant's language model usage over a period."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query

from backend.auth.dependencies import CurrentCaller, DbSession
from backend.errors import problem_responses
from backend.llm.usage import usage_totals
from backend.timestamps import IsoDateTime
from backend.usage.exceptions import InvalidUsagePeriod
from backend.usage.schemas import UsageLine, UsageReport

router = APIRouter(prefix="/usage", tags=["usage"])

DEFAULT_PERIOD = timedelta(days=30)
LONGEST_PERIOD = timedelta(days=366)


@router.get(
    "",
    name="get_usage",
    summary="Language model usage",
    response_model=UsageReport,
    responses=problem_responses(401, 422),
)
async def get_usage(
    session: DbSession,
    caller: CurrentCaller,
    start: Annotated[
        IsoDateTime | None,
        Query(
            alias="from",
            description="Start of the period, included (ISO 8601; UTC if no offset). "
            "Default: 30 days before `to`.",
        ),
    ] = None,
    end: Annotated[
        IsoDateTime | None,
        Query(
            alias="to",
            description="End of the period, excluded (ISO 8601; UTC if no offset). Default: now.",
        ),
    ] = None,
) -> UsageReport:
    """Tokens your tenant's operations used, per operation kind and model. Calls are
    counted when their operation completed; attempts that failed are not counted."""
    until = _as_utc(end) if end is not None else datetime.now(UTC)
    since = _as_utc(start) if start is not None else until - DEFAULT_PERIOD
    if since >= until:
        raise InvalidUsagePeriod("`from` must be earlier than `to`.")
    if until - since > LONGEST_PERIOD:
        raise InvalidUsagePeriod("A period may span at most 366 days; ask for several.")
    totals = await usage_totals(session, caller.tenant_id, since, until)
    lines = [
        UsageLine(
            kind=t.kind,
            provider=t.provider,
            model=t.model,
            calls=t.calls,
            prompt_tokens=t.prompt_tokens,
            completion_tokens=t.completion_tokens,
            total_tokens=t.prompt_tokens + t.completion_tokens,
        )
        for t in totals
    ]
    prompt = sum(line.prompt_tokens for line in lines)
    completion = sum(line.completion_tokens for line in lines)
    return UsageReport(
        start=since,
        end=until,
        calls=sum(line.calls for line in lines),
        prompt_tokens=prompt,
        completion_tokens=completion,
        total_tokens=prompt + completion,
        by_kind_and_model=lines,
    )


def _as_utc(moment: datetime) -> datetime:
    """A time without an offset is read as UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
