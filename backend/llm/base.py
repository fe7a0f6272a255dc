"""What every provider speaks: a request, token counts, and the usage of one call."""

from __future__ import annotations

import math
from collections.abc import AsyncGenerator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from pydantic import BaseModel

ResultT = TypeVar("ResultT", bound=BaseModel)

# Rough characters per token of English text: used to estimate a prompt's size before
# a call (the token budget) and by the local provider, which has no tokenizer.
CHARS_PER_TOKEN = 4


def estimate_tokens(text: str) -> int:
    return math.ceil(len(text) / CHARS_PER_TOKEN)


@dataclass(frozen=True)
class TokenCount:
    prompt: int = 0
    completion: int = 0

    def __add__(self, other: TokenCount) -> TokenCount:
        return TokenCount(self.prompt + other.prompt, self.completion + other.completion)

    @property
    def total(self) -> int:
        return self.prompt + self.completion


@dataclass(frozen=True)
class LlmRequest:
    """One rendered prompt on its way to a provider.

    ``messages`` is what a chat model reads; ``inputs`` holds the untrusted texts the
    local provider reads (the prompt's ``local_inputs``, or all), undecorated (it works
    on them, never on the instructions), and
    ``local`` maps answer fields to local strategies (see ``backend/llm/local``).
    """

    model: str
    messages: Sequence[Mapping[str, str]]
    inputs: Mapping[str, Sequence[str]] = field(default_factory=dict)
    local: Mapping[str, str] = field(default_factory=dict)
    max_output_tokens: int | None = None

    def estimated_prompt_tokens(self) -> int:
        # A few tokens of framing per message, as chat formats add.
        return sum(estimate_tokens(m["content"]) + 4 for m in self.messages)


class Provider(Protocol):
    """A source of answers: the OpenAI-compatible client or the local provider."""

    name: str

    def model_for(self, requested: str) -> str:
        """The model name recorded for an answer to a request for ``requested``."""
        ...

    async def generate(
        self, request: LlmRequest, schema: type[ResultT]
    ) -> tuple[ResultT, TokenCount]:
        """An answer validated against ``schema``, and the tokens it took."""
        ...

    def stream(self, request: LlmRequest) -> AsyncGenerator[str | TokenCount, None]:
        """Chunks of a text answer as they come, then the tokens it took (last item)."""
        ...

    async def aclose(self) -> None: ...


class Usage(BaseModel):
    """What one model call used and what made it.

    Handlers record it (``backend.llm.usage``) and may put it in their results, so a
    result says which provider, model and prompt version produced it.
    """

    provider: str
    model: str
    prompt: str
    prompt_version: int
    prompt_digest: str
    prompt_tokens: int
    completion_tokens: int
