"""The local provider: answers offline, deterministically, from the input texts alone.

It reads the prompt's inputs (never its instructions), ranks their sentences and
words, and fills the answer schema with them (see ``filling``). The same inputs always
give the same answer; nothing is downloaded, no network is used. Token counts are
estimates (characters / 4), since there is no tokenizer.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, Mapping, Sequence

from pydantic import ValidationError

from backend.llm.base import LlmRequest, ResultT, TokenCount, estimate_tokens
from backend.llm.local.filling import CannotFill, Source, fill
from backend.llm.local.ranking import Corpus
from backend.llm.local.text import sentences_of
from backend.operations.exceptions import PermanentFailure

MODEL = "extractive-1"

# A text answer streams this many words at a time, like a model's chunks.
STREAM_WORDS = 6


def source_of(inputs: Mapping[str, Sequence[str]]) -> Source:
    texts = [text for values in inputs.values() for text in values]
    first_line = next((line for text in texts for line in text.splitlines() if line.strip()), None)
    return Source(Corpus.of(sentences_of(texts)), first_line, len(texts))


def answer(request: LlmRequest, schema: type[ResultT]) -> tuple[ResultT, TokenCount]:
    """The local answer to ``request`` in the shape of ``schema`` (CPU only)."""
    try:
        values = fill(schema, source_of(request.inputs), request.local)
        result = schema.model_validate(values)
    except (CannotFill, ValidationError) as exc:
        raise PermanentFailure(
            "LLM_INVALID_OUTPUT",
            "The local provider cannot produce an answer of this structure from this input; "
            "configure a language model.",
        ) from exc
    completion = estimate_tokens(json.dumps(values, ensure_ascii=False))
    return result, TokenCount(request.estimated_prompt_tokens(), completion)


def text_answer(request: LlmRequest) -> str:
    """A text answer: the inputs' most representative sentences."""
    return source_of(request.inputs).corpus.summary(5)


class LocalProvider:
    name = "local"

    def model_for(self, requested: str) -> str:
        return MODEL

    async def generate(
        self, request: LlmRequest, schema: type[ResultT]
    ) -> tuple[ResultT, TokenCount]:
        # Ranking a long document takes a while: keep the event loop free meanwhile.
        return await asyncio.to_thread(answer, request, schema)

    async def stream(self, request: LlmRequest) -> AsyncGenerator[str | TokenCount, None]:
        text = await asyncio.to_thread(text_answer, request)
        words = text.split(" ") if text else []
        for start in range(0, len(words), STREAM_WORDS):
            chunk = " ".join(words[start : start + STREAM_WORDS])
            yield chunk if start == 0 else " " + chunk
        yield TokenCount(request.estimated_prompt_tokens(), estimate_tokens(text))

    async def aclose(self) -> None:
        return None
