"""The answers the shipped prompts ask for, one model per prompt.

Features may use them as they are or ask for their own shapes with their own prompts.
They stay within what OpenAI's strict structured outputs accept (every field
required, no string length limits; list and number bounds are fine).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class FeedbackSummary(BaseModel):
    """``review_summary``: what several people said about one person."""

    summary: str = Field(description="A neutral synthesis of the feedback, 2 to 4 sentences.")
    strengths: list[str] = Field(max_length=5, description="What the person does well.")
    improvements: list[str] = Field(max_length=5, description="What the person could improve.")
    themes: list[str] = Field(max_length=6, description="Short labels of recurring topics.")
    sentiment: Literal["positive", "mixed", "negative"]


class DocumentMetadata(BaseModel):
    """``document_metadata``: how to show and find an uploaded document."""

    display_name: str = Field(description="A short, human title for the document.")
    tags: list[str] = Field(min_length=3, max_length=8, description="Lowercase topic tags.")
    summary: str = Field(description="What the document is about, 1 or 2 sentences.")
    language: str = Field(
        description="The document's main language as an ISO 639-1 code, e.g. en, de, fr."
    )


class InterviewFeedback(BaseModel):
    """``interview_feedback``: feedback on a practice interview from its transcript."""

    overall: str = Field(description="The overall impression, 2 to 4 sentences.")
    strengths: list[str] = Field(max_length=5)
    improvements: list[str] = Field(max_length=5)
    score: int = Field(ge=1, le=10, description="1 (poor) to 10 (excellent).")


class ReportSummary(BaseModel):
    """``report_summary``: the narrative of a periodic report on one subject."""

    headline: str
    summary: str
    highlights: list[str] = Field(max_length=5)
    concerns: list[str] = Field(max_length=5)
