"""An example operation kind for trying opsapi out: counts words and sentences.

Load it with ``OPSAPI_HANDLER_MODULES='["examples.wordcount"]'`` in both the API and
the workers. It is not part of the product.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, Field

from backend.operations.context import OperationContext
from backend.operations.registry import Registry


class WordCountParams(BaseModel):
    text: str = Field(min_length=1, max_length=100_000)


class WordCountResult(BaseModel):
    words: int
    sentences: int


async def count_words(ctx: OperationContext, params: WordCountParams) -> WordCountResult:
    await ctx.progress(percent=0, stage="counting")
    words = len(params.text.split())
    sentences = len([s for s in re.split(r"[.!?]+", params.text) if s.strip()])
    return WordCountResult(words=words, sentences=sentences)


def register(registry: Registry) -> None:
    registry.register(
        "example.word_count", count_words, params=WordCountParams, result=WordCountResult
    )
