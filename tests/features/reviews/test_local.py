"""The review journey with no model configured: the local provider summarises offline."""

from __future__ import annotations

import httpx

from backend.config import Settings
from backend.llm.local.text import split_sentences
from backend.operations.registry import Registry
from tests.conftest import ApiCaller
from tests.factories import running_worker
from tests.features.api import wait_done
from tests.features.reviews.cycles import (
    IMPROVEMENTS,
    STRENGTHS,
    create_cycle,
    get_summary,
    invite_many,
    review,
    submit,
    summary_operation,
)


async def test_the_local_provider_summarises_a_cycle_from_the_reviews_alone(
    client: httpx.AsyncClient,
    admin: ApiCaller,
    database_url: str,
    registry: Registry,
    settings: Settings,
) -> None:
    cycle = await create_cycle(client, admin)
    relationships = ["manager", "peer", "peer", "self"]
    tokens = await invite_many(client, admin, cycle["id"], relationships)

    async with running_worker(database_url, registry, settings):
        for i, token in enumerate(tokens):
            assert (await submit(client, token, review(i))).status_code == 201
        operation = await summary_operation(client, admin, cycle["id"])
        done = await wait_done(client, admin, operation["id"])
        summary = await get_summary(client, admin, cycle["id"])

    assert done["status"] == "completed", done["error"]
    assert summary["review_count"] == 4
    assert summary["generated_by"]["provider"] == "local"
    assert summary["generated_by"]["prompt"] == "cycle_summary"
    written = {s for text in STRENGTHS + IMPROVEMENTS for s in split_sentences(text)}
    content = summary["content"]
    assert content["summary"]
    for sentence in content["strengths"] + content["improvements"]:
        assert sentence in written
    assert content["sentiment"] in {"positive", "mixed", "negative"}
    shares = {g["relationship"]: g["share"] for g in summary["weighting"]["relationships"]}
    assert shares == {"manager": 0.5, "peer": 0.5, "self": 0.0}
    assert "1 self-review is set beside the others" in summary["weighting"]["explanation"]
