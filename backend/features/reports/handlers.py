"""The `report.generate` handler: read what the person received, skip the model when
nothing changed since the stored report, else compute the figures, ask the model for
the narrative, and store the report."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from backend.features.feedback.provenance import GeneratedBy
from backend.features.reports import material as store
from backend.features.reports.figures import Material, compute
from backend.features.reports.periods import Period
from backend.features.reports.schemas import (
    GENERATE_KIND,
    Counts,
    Figures,
    GenerateParams,
    GenerateResult,
    Measure,
    PeriodOut,
    ReportDocument,
    ReportNarrative,
)
from backend.operations.context import OperationContext
from backend.operations.exceptions import PermanentFailure
from backend.operations.registry import Registry

PROMPT = "person_report"
# A model call takes seconds; a slow provider is cut off by its own timeout first.
GENERATE_TIMEOUT = 300.0


def register_reports(registry: Registry) -> None:
    """`report.generate`: one person's report for one period, deduplicated per person
    and period, one at a time per person (concurrency limit 1 on the person's key)."""
    registry.register(
        GENERATE_KIND,
        generate_report,
        params=GenerateParams,
        result=GenerateResult,
        timeout=GENERATE_TIMEOUT,
        max_attempts=3,
        poll_after=2,
        concurrency_limit=1,
    )


async def generate_report(ctx: OperationContext, params: GenerateParams) -> GenerateResult:
    period = params.to_period()
    # Read in a short transaction of its own: none is open during the model call.
    async with ctx.sessionmaker() as session:
        material = await store.load_material(session, ctx.tenant_id, params.person_id, period)
        stored = await store.stored_sources(session, params.person_id, period)
    if material is None:
        raise PermanentFailure("PERSON_NOT_FOUND", "The person no longer exists.")
    sources = material.sources
    if stored is not None and stored == sources.model_dump(mode="json"):
        await store.mark_fresh(ctx.session, params.person_id, period, ctx.operation_id)
        return _result(params, sources.counts, regenerated=False, model_called=False)
    figures = compute(material)
    narrative: ReportNarrative | None = None
    generated_by: GeneratedBy | None = None
    if figures.counts.total:
        narrative, usage = await ctx.llm.generate(
            PROMPT, prompt_variables(material, period, figures), schema=ReportNarrative
        )
        generated_by = GeneratedBy.of(usage)
    document = ReportDocument(
        person_id=params.person_id,
        period=PeriodOut.of(period),
        previous_period=PeriodOut.of(period.previous()),
        narrative=narrative,
        figures=figures,
        sources=sources,
        generated_by=generated_by,
        generated_at=datetime.now(UTC),
    )
    await store.save_report(
        ctx.session,
        tenant_id=ctx.tenant_id,
        period=period,
        document=document,
        operation_id=ctx.operation_id,
    )
    return _result(params, figures.counts, regenerated=True, model_called=narrative is not None)


def _result(
    params: GenerateParams, counts: Counts, *, regenerated: bool, model_called: bool
) -> GenerateResult:
    return GenerateResult(
        person_id=params.person_id,
        period=params.period,
        regenerated=regenerated,
        model_called=model_called,
        counts=counts,
    )


def _line(name: str, measure: Measure) -> dict[str, str | None]:
    def shown(value: float | None) -> str | None:
        return None if value is None else f"{value:.2f}"

    return {
        "name": name,
        "average": shown(measure.average),
        "previous": shown(measure.previous_average),
        "trend": measure.trend.value if measure.trend else None,
    }


def prompt_variables(material: Material, period: Period, figures: Figures) -> dict[str, Any]:
    """People's words as fenced inputs; the computed figures as plain values."""
    now = material.current
    return {
        "period": period.key,
        "previous_period": period.previous().key,
        "counts": figures.counts.model_dump(),
        "ratings": [_line("Overall", figures.overall_rating)]
        + [_line(c.competency, c) for c in figures.competencies if c.average is not None],
        "interview_score": _line("Interview score", figures.interview_score),
        "strengths": [r.strengths for r in now.reviews]
        + [s for i in now.interviews for s in i.strengths],
        "improvements": [r.improvements for r in now.reviews]
        + [s for i in now.interviews for s in i.areas_to_improve],
        "comments": [f.comment for f in now.peer_feedback],
        "interview_notes": [f"{i.topic}: {i.summary}" for i in now.interviews],
    }
