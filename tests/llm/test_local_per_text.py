"""The local provider per input text: one entry per text (``each``), its place
(``position``), strategies for nested fields (dotted keys), and prompts naming the
inputs it reads (``local_inputs``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel, Field

from backend.config import LlmSettings
from backend.llm import LlmClient
from backend.llm.local.text import split_sentences, words
from backend.llm.templates import PromptError, PromptLibrary
from backend.operations.exceptions import OperationFailure

ANSWERS = [
    "I designed the order pipeline with a queue and three workers. Checkout latency fell "
    "by half. I should have load-tested it earlier.",
    "I was defensive in a review once and it made things worse.",
    "Your product is excellent and the team seems great.",
]
QUESTIONS = ["Which zebra migrates furthest?", "Name a xylophone maker.", "Quokka or wombat?"]

PROMPT = """
version = 1
inputs = ["questions", "answers"]
local_inputs = ["answers"]
system = "Coach the candidate."
user = "{{ questions }} {{ answers }}"

[local]
entries = "each"
"entries.number" = "position"
"entries.advice" = "criticism:1"
"entries.praise" = "praise:1"
"""


class Entry(BaseModel):
    number: int = Field(ge=1)
    score: int = Field(ge=0, le=100)
    feedback: str
    advice: str
    praise: str


class PerAnswer(BaseModel):
    summary: str
    entries: list[Entry] = Field(max_length=10)


def client(folder: Path, prompt: str = PROMPT) -> LlmClient:
    (folder / "coach.toml").write_text(prompt)
    return LlmClient.from_settings(LlmSettings(), prompts=PromptLibrary(folder))


async def answer_of(folder: Path, prompt: str = PROMPT) -> PerAnswer:
    result, _ = await client(folder, prompt).generate(
        "coach", {"questions": QUESTIONS, "answers": ANSWERS}, schema=PerAnswer
    )
    return result


async def test_each_gives_one_entry_per_text_in_order_filled_from_that_text_alone(
    tmp_path: Path,
) -> None:
    result = await answer_of(tmp_path)

    assert [entry.number for entry in result.entries] == [1, 2, 3]
    for entry, text in zip(result.entries, ANSWERS, strict=True):
        own = set(split_sentences(text))
        assert entry.feedback and set(split_sentences(entry.feedback)) <= own
        assert entry.advice == "" or entry.advice in own
        assert entry.praise == "" or entry.praise in own


async def test_nested_fields_take_their_strategies_from_dotted_keys(tmp_path: Path) -> None:
    result = await answer_of(tmp_path)

    first, second, third = result.entries
    assert first.advice == "I should have load-tested it earlier."
    assert second.advice == "I was defensive in a review once and it made things worse."
    assert third.advice == ""  # nothing critical said: no sentence is passed off as advice
    assert third.praise == "Your product is excellent and the team seems great."
    assert third.score > 50 > second.score


async def test_the_local_provider_reads_only_the_prompts_local_inputs(tmp_path: Path) -> None:
    result = await answer_of(tmp_path)

    said = set(words(result.summary)) | {
        w for entry in result.entries for w in words(entry.feedback + " " + entry.advice)
    }
    assert said
    assert not said & {"zebra", "xylophone", "quokka", "wombat", "migrates"}


async def test_without_local_inputs_every_input_is_read(tmp_path: Path) -> None:
    result = await answer_of(tmp_path, PROMPT.replace('local_inputs = ["answers"]\n', ""))

    assert len(result.entries) == len(QUESTIONS) + len(ANSWERS)


async def test_each_stops_at_the_lists_maximum_length(tmp_path: Path) -> None:
    class Short(BaseModel):
        summary: str
        entries: list[Entry] = Field(max_length=2)

    result, _ = await client(tmp_path).generate(
        "coach", {"questions": QUESTIONS, "answers": ANSWERS}, schema=Short
    )

    assert [entry.number for entry in result.entries] == [1, 2]


async def test_a_position_outside_an_each_entry_cannot_be_filled(tmp_path: Path) -> None:
    class Misplaced(BaseModel):
        number: int

    prompt = PROMPT + 'number = "position"\n'

    with pytest.raises(OperationFailure) as caught:
        await client(tmp_path, prompt).generate(
            "coach", {"questions": QUESTIONS, "answers": ANSWERS}, schema=Misplaced
        )

    assert caught.value.code == "LLM_INVALID_OUTPUT"


def test_a_prompt_whose_local_inputs_are_not_among_its_inputs_is_refused(tmp_path: Path) -> None:
    (tmp_path / "coach.toml").write_text(PROMPT.replace('["answers"]', '["transcript"]'))

    with pytest.raises(PromptError, match="local_inputs"):
        PromptLibrary(tmp_path).get("coach")
