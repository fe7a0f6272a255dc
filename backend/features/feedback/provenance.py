"""Which provider, model and prompt made a summary: kept with every summary."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field
from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from backend.llm import Usage


class GeneratedBy(BaseModel):
    provider: str = Field(examples=["openai"], description="`local` for the offline provider.")
    model: str = Field(examples=["gpt-4o-mini"])
    prompt: str = Field(examples=["cycle_summary"])
    prompt_version: int = Field(examples=[1])
    prompt_digest: str = Field(
        examples=["3f2a9c1b7d4e"], description="First 12 hex digits of the prompt file's SHA-256."
    )

    @classmethod
    def of(cls, usage: Usage) -> GeneratedBy:
        return cls(
            provider=usage.provider,
            model=usage.model,
            prompt=usage.prompt,
            prompt_version=usage.prompt_version,
            prompt_digest=usage.prompt_digest,
        )


class GeneratedColumns:
    """Columns of a stored summary: when and by what it was generated (a mixin)."""

    provider: Mapped[str] = mapped_column(String(50))
    model: Mapped[str] = mapped_column(String(200))
    prompt_name: Mapped[str] = mapped_column(String(100))
    prompt_version: Mapped[int]
    prompt_digest: Mapped[str] = mapped_column(String(64))
    generated_at: Mapped[datetime]

    def record_generation(self, by: GeneratedBy, at: datetime) -> None:
        self.provider = by.provider
        self.model = by.model
        self.prompt_name = by.prompt
        self.prompt_version = by.prompt_version
        self.prompt_digest = by.prompt_digest
        self.generated_at = at

    @property
    def generated_by(self) -> GeneratedBy:
        return GeneratedBy(
            provider=self.provider,
            model=self.model,
            prompt=self.prompt_name,
            prompt_version=self.prompt_version,
            prompt_digest=self.prompt_digest,
        )
