"""Usage totals as clients see them."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class UsageLine(BaseModel):
    kind: str = Field(examples=["review.summary"])
    provider: str = Field(examples=["openai"], description="`openai` or `local`.")
    model: str = Field(examples=["gpt-4o-mini"])
    calls: int
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class UsageReport(BaseModel):
    """A tenant's model calls in [from, to), in total and per kind and model."""

    model_config = ConfigDict(populate_by_name=True)

    start: datetime = Field(alias="from", description="Start of the period (included).")
    end: datetime = Field(alias="to", description="End of the period (excluded).")
    calls: int
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    by_kind_and_model: list[UsageLine]
