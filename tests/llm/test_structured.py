"""Structured answers: how the schema is asked for, validation, one correction, fallback."""

from __future__ import annotations

import json

import pytest

from backend.llm import LlmClient
from backend.llm.tasks import FeedbackSummary
from backend.operations.exceptions import OperationFailure
from tests.fakes.openai_server import FakeOpenAI, Reply
from tests.llm.answers import SUMMARY, VARIABLES
from tests.llm.conftest import ClientFactory


async def test_the_answer_is_parsed_into_the_schema_with_its_usage(
    llm: LlmClient, fake: FakeOpenAI
) -> None:
    fake.script(Reply.json(SUMMARY, prompt_tokens=321, completion_tokens=45))

    result, usage = await llm.generate("review_summary", VARIABLES, schema=FeedbackSummary)

    assert result == FeedbackSummary.model_validate(SUMMARY)
    assert (usage.provider, usage.model) == ("openai", "fake-model")
    assert (usage.prompt, usage.prompt_version) == ("review_summary", 1)
    assert len(usage.prompt_digest) == 12
    assert (usage.prompt_tokens, usage.completion_tokens) == (321, 45)


async def test_json_schema_mode_sends_the_strict_schema_of_the_answer(
    llm: LlmClient, fake: FakeOpenAI
) -> None:
    fake.script(Reply.json(SUMMARY))

    await llm.generate("review_summary", VARIABLES, schema=FeedbackSummary)

    sent = fake.requests[0]["response_format"]
    assert sent["type"] == "json_schema"
    assert sent["json_schema"]["name"] == "FeedbackSummary"
    assert sent["json_schema"]["strict"] is True
    schema = sent["json_schema"]["schema"]
    assert set(schema["required"]) == set(FeedbackSummary.model_fields)
    assert schema["additionalProperties"] is False
    assert "max_completion_tokens" not in fake.requests[0]


async def test_json_object_mode_puts_the_schema_in_the_instructions(
    make_llm: ClientFactory, fake: FakeOpenAI
) -> None:
    llm = make_llm(structured_output="json_object", max_output_tokens=300)
    fake.script(Reply.json(SUMMARY))

    await llm.generate("review_summary", VARIABLES, schema=FeedbackSummary)

    request = fake.requests[0]
    assert request["response_format"] == {"type": "json_object"}
    system = request["messages"][0]["content"]
    assert json.dumps(FeedbackSummary.model_json_schema(), separators=(",", ":")) in system
    assert request["max_completion_tokens"] == 300


async def test_a_server_without_json_schema_support_is_switched_to_json_mode_for_good(
    llm: LlmClient, fake: FakeOpenAI
) -> None:
    fake.script(
        Reply.failure(400, "response_format json_schema is not supported", param="response_format"),
        Reply.json(SUMMARY),
        Reply.json(SUMMARY),
    )

    first, _ = await llm.generate("review_summary", VARIABLES, schema=FeedbackSummary)
    second, _ = await llm.generate("review_summary", VARIABLES, schema=FeedbackSummary)

    formats = [r["response_format"]["type"] for r in fake.requests]
    assert formats == ["json_schema", "json_object", "json_object"]
    assert first == second == FeedbackSummary.model_validate(SUMMARY)


async def test_an_invalid_answer_gets_one_correction_request(
    llm: LlmClient, fake: FakeOpenAI
) -> None:
    wrong = {**SUMMARY, "sentiment": "ecstatic"}
    del wrong["themes"]
    fake.script(
        Reply.json(wrong, prompt_tokens=100, completion_tokens=10),
        Reply.json(SUMMARY, prompt_tokens=150, completion_tokens=20),
    )

    result, usage = await llm.generate("review_summary", VARIABLES, schema=FeedbackSummary)

    assert result == FeedbackSummary.model_validate(SUMMARY)
    assert (usage.prompt_tokens, usage.completion_tokens) == (250, 30)
    correction = fake.requests[1]["messages"]
    assert correction[:2] == fake.requests[0]["messages"]
    assert correction[2] == {"role": "assistant", "content": json.dumps(wrong)}
    assert "themes: Field required" in correction[3]["content"]
    assert "sentiment:" in correction[3]["content"]
    assert "ecstatic" not in correction[3]["content"]


async def test_an_answer_still_invalid_after_the_correction_fails_permanently(
    llm: LlmClient, fake: FakeOpenAI
) -> None:
    fake.script(Reply.text("Sure! Here is the summary: {oops"), Reply.text("{not json either"))

    with pytest.raises(OperationFailure) as caught:
        await llm.generate("review_summary", VARIABLES, schema=FeedbackSummary)

    assert (caught.value.code, caught.value.retryable) == ("LLM_INVALID_OUTPUT", False)
    assert len(fake.requests) == 2


async def test_an_answer_in_a_code_fence_or_wrapped_in_prose_is_accepted(
    llm: LlmClient, fake: FakeOpenAI
) -> None:
    fake.script(
        Reply.text("```json\n" + json.dumps(SUMMARY) + "\n```"),
        Reply.text("Here you are: " + json.dumps(SUMMARY) + " Hope it helps."),
    )

    fenced, _ = await llm.generate("review_summary", VARIABLES, schema=FeedbackSummary)
    wrapped, _ = await llm.generate("review_summary", VARIABLES, schema=FeedbackSummary)

    assert fenced == wrapped == FeedbackSummary.model_validate(SUMMARY)
    assert len(fake.requests) == 2


async def test_a_task_uses_its_own_model_when_one_is_configured(
    make_llm: ClientFactory, fake: FakeOpenAI
) -> None:
    llm = make_llm(models={"review_summary": "big-model", "other": "small-model"})
    fake.script(Reply.json(SUMMARY), Reply.json(SUMMARY))

    _, usage = await llm.generate("review_summary", VARIABLES, schema=FeedbackSummary)
    _, other = await llm.generate("review_summary", VARIABLES, schema=FeedbackSummary, task="other")

    assert [r["model"] for r in fake.requests] == ["big-model", "small-model"]
    assert (usage.model, other.model) == ("big-model", "small-model")
