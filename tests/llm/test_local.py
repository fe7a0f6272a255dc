"""The local provider: offline, deterministic, and every word of its answers from the input."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any, Literal

import pytest
from pydantic import BaseModel, Field

from backend.config import LlmSettings
from backend.llm import LlmClient
from backend.llm.local.text import split_sentences, words
from backend.llm.tasks import DocumentMetadata, FeedbackSummary, InterviewFeedback, ReportSummary
from backend.operations.exceptions import OperationFailure

PROJECT_ROOT = Path(__file__).resolve().parents[2]

REVIEWS = [
    "Priya runs the sprint planning with great care. Her estimates are accurate and the "
    "team trusts them. She could delegate the release notes instead of writing them all.",
    "Priya is a supportive mentor to the new engineers. Sprint planning is well prepared. "
    "Sometimes she works late to finish the release notes alone, which is a risk.",
    "Great mentor and excellent sprint planning. Priya should share the release notes "
    "work with others on the team.",
]

DOCUMENT = """Incident Review: Payment Outage

On 3 March the payment service failed for forty minutes after a database migration
locked the orders table. Customers saw errors at checkout. The on-call engineer rolled
the migration back and the service recovered. The team will test migrations against a
copy of production data and add a lock timeout to every migration."""

POSITIVE_TRANSCRIPT = (
    "The candidate gave clear, structured answers. Her examples were concrete and "
    "impressive. She was confident and calm when asked about failure."
)
NEGATIVE_TRANSCRIPT = (
    "The candidate gave vague answers and missed the question twice. The examples were "
    "confusing and incomplete. He was nervous and interrupted the interviewer."
)


@pytest.fixture
def local() -> LlmClient:
    return LlmClient.from_settings(LlmSettings())


def sentences_of(texts: list[str]) -> set[str]:
    return {s for text in texts for s in split_sentences(text)}


def vocabulary(texts: list[str]) -> set[str]:
    return {w for text in texts for w in words(text)}


def test_the_local_provider_is_the_default_without_a_key_and_openai_with_one() -> None:
    assert LlmSettings().resolved_provider() == "local"
    assert LlmSettings.model_validate({"api_key": "sk-x"}).resolved_provider() == "openai"
    settings = LlmSettings.model_validate({"api_key": "sk-x", "provider": "local"})
    assert settings.resolved_provider() == "local"


async def test_every_sentence_and_theme_of_a_local_summary_comes_from_the_reviews(
    local: LlmClient,
) -> None:
    result, usage = await local.generate(
        "review_summary", {"reviews": REVIEWS}, schema=FeedbackSummary
    )

    known = sentences_of(REVIEWS)
    assert result.summary
    assert set(split_sentences(result.summary)) <= known
    assert result.strengths and set(result.strengths) <= known
    assert result.improvements and set(result.improvements) <= known
    assert result.themes
    assert {w for theme in result.themes for w in theme.split()} <= vocabulary(REVIEWS)
    assert "sprint planning" in result.themes
    assert result.sentiment == "positive"
    assert (usage.provider, usage.model) == ("local", "extractive-1")
    assert usage.prompt_tokens > 0 and usage.completion_tokens > 0


async def test_praise_and_advice_land_on_their_own_sides(local: LlmClient) -> None:
    result, _ = await local.generate("review_summary", {"reviews": REVIEWS}, schema=FeedbackSummary)

    assert any("mentor" in s for s in result.strengths)
    assert all("release notes" not in s for s in result.strengths)
    assert all("release notes" in s for s in result.improvements)


async def test_the_same_input_gives_the_same_answer_every_time(local: LlmClient) -> None:
    other = LlmClient.from_settings(LlmSettings())

    first = await local.generate("review_summary", {"reviews": REVIEWS}, schema=FeedbackSummary)
    second = await other.generate("review_summary", {"reviews": REVIEWS}, schema=FeedbackSummary)

    assert first == second


def test_the_answer_does_not_depend_on_the_process_or_its_hash_seed() -> None:
    program = (
        "import asyncio, json, sys\n"
        "from backend.config import LlmSettings\n"
        "from backend.llm import LlmClient\n"
        "from backend.llm.tasks import FeedbackSummary\n"
        "llm = LlmClient.from_settings(LlmSettings())\n"
        "reviews = json.loads(sys.argv[1])\n"
        "result, _ = asyncio.run(llm.generate('review_summary', {'reviews': reviews},"
        " schema=FeedbackSummary))\n"
        "print(result.model_dump_json())\n"
    )
    answers = set()
    for seed in ("1", "2", "3"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run(
            [sys.executable, "-c", program, json.dumps(REVIEWS)],
            cwd=PROJECT_ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        answers.add(done.stdout)

    assert len(answers) == 1


async def test_document_metadata_names_tags_and_summarises_from_the_text(
    local: LlmClient,
) -> None:
    result, _ = await local.generate(
        "document_metadata",
        {"document": DOCUMENT, "truncated": False, "characters": len(DOCUMENT)},
        schema=DocumentMetadata,
    )

    assert result.display_name == "Incident Review: Payment Outage"
    assert 3 <= len(result.tags) <= 8
    assert result.language == "en"
    assert {w for tag in result.tags for w in tag.split()} <= vocabulary([DOCUMENT])
    assert "migration" in " ".join(result.tags)
    assert set(split_sentences(result.summary)) <= sentences_of([DOCUMENT])


async def test_a_positive_interview_scores_higher_than_a_negative_one(local: LlmClient) -> None:
    good, _ = await local.generate(
        "interview_feedback",
        {"transcript": POSITIVE_TRANSCRIPT, "role": "engineer"},
        schema=InterviewFeedback,
    )
    poor, _ = await local.generate(
        "interview_feedback",
        {"transcript": NEGATIVE_TRANSCRIPT, "role": "engineer"},
        schema=InterviewFeedback,
    )

    assert 1 <= poor.score < good.score <= 10
    assert good.strengths and not good.improvements
    assert poor.improvements and not poor.strengths


async def test_a_report_is_filled_from_its_notes(local: LlmClient) -> None:
    result, _ = await local.generate(
        "report_summary", {"notes": REVIEWS, "period": "2026-Q3"}, schema=ReportSummary
    )

    assert result.headline and result.summary
    assert set(result.highlights) | set(result.concerns) <= sentences_of(REVIEWS)


class Theme(BaseModel):
    name: str
    evidence: list[str]


class CustomAnswer(BaseModel):
    title: str
    tags: list[str] = Field(max_length=2)
    rating: float = Field(ge=0, le=100)
    mood: Literal["happy", "neutral", "unhappy", "positive"]
    themes: list[Theme] = Field(max_length=2)
    needs_attention: bool
    review_count: int
    notes: str | None = None


async def test_any_schema_is_filled_by_field_names_and_types_within_its_bounds(
    local: LlmClient,
) -> None:
    rendered = local.prompts.get("review_summary")

    result, _ = await local.generate("review_summary", {"reviews": REVIEWS}, schema=CustomAnswer)

    assert rendered.name == "review_summary"
    assert len(result.tags) == 2
    assert 50 < result.rating <= 100
    assert result.mood == "positive"
    assert [t.name.lower() for t in result.themes] == result.tags
    for theme in result.themes:
        assert theme.evidence
        assert all(theme.name.lower() in s.lower() for s in theme.evidence)
    assert result.needs_attention is False
    assert result.review_count == 3


async def test_empty_input_gives_empty_text_rather_than_invented_text(local: LlmClient) -> None:
    result, _ = await local.generate("review_summary", {"reviews": []}, schema=FeedbackSummary)

    assert result.summary == ""
    assert result.strengths == result.improvements == result.themes == []


class Unfillable(BaseModel):
    when: dict[str, Any]
    photo: bytes


async def test_a_schema_the_local_provider_cannot_fill_fails_permanently(
    local: LlmClient,
) -> None:
    with pytest.raises(OperationFailure) as caught:
        await local.generate("review_summary", {"reviews": REVIEWS}, schema=Unfillable)

    assert (caught.value.code, caught.value.retryable) == ("LLM_INVALID_OUTPUT", False)


async def test_the_local_provider_streams_its_text_in_chunks(local: LlmClient) -> None:
    async with local.stream("review_summary", {"reviews": REVIEWS}) as stream:
        chunks = [chunk async for chunk in stream]

    assert len(chunks) > 1
    assert "".join(chunks) == stream.text
    assert set(split_sentences(stream.text)) <= sentences_of(REVIEWS)
    assert stream.usage is not None and stream.usage.provider == "local"


async def test_the_local_provider_needs_no_network(
    local: LlmClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the local provider opened a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)

    result, _ = await local.generate("review_summary", {"reviews": REVIEWS}, schema=FeedbackSummary)

    assert result.summary


def test_the_language_of_a_text_is_told_by_its_commonest_words() -> None:
    from backend.llm.local.text import language_of, words

    english = "The team will test the migration and add a lock timeout to it."
    german = "Die Mannschaft ist mit der Migration nicht fertig und das ist ein Problem."
    french = "Le service est revenu et les clients ont pu payer dans la soirée pour la fin."

    assert language_of(words(english)) == "en"
    assert language_of(words(german)) == "de"
    assert language_of(words(french)) == "fr"
    assert language_of(words("Kubernetes Postgres")) == "und"
