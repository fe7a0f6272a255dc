"""Practice interviews as clients see them, and the feedback the model is asked for."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from backend.features.interviews.models import SessionStatus

# A session holds at most this many turns: the whole transcript goes into one prompt.
MAX_TURNS = 50
MAX_QUESTION_LENGTH = 2_000
MAX_ANSWER_LENGTH = 10_000


# Texts are stripped of surrounding blanks and must say something.
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Seniority = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Question = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_QUESTION_LENGTH)
]
Answer = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_ANSWER_LENGTH)
]


class SessionCreate(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"role": "Backend engineer", "seniority": "senior", "topic": "System design"}
            ]
        }
    )

    role: ShortText = Field(description="The role practised for.")
    seniority: Seniority = Field(
        description="The level aimed at, in your words (junior, senior, staff, …)."
    )
    topic: ShortText = Field(description="What the interview is about.")


class TurnCreate(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "question": "Tell me about a system you designed that had to scale.",
                    "answer": "I designed the order pipeline at a retailer. We moved from "
                    "one database to a queue and three workers, which cut checkout latency "
                    "by half. I should have load-tested it earlier.",
                    "duration_seconds": 140,
                }
            ]
        }
    )

    question: Question
    answer: Answer
    duration_seconds: int | None = Field(
        default=None, ge=0, le=86_400, description="How long the answer took, if timed."
    )


class TurnOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    position: int = Field(description="The turn's number in its session, from 1.", examples=[1])
    question: str = Field(examples=["Tell me about a system you designed that had to scale."])
    answer: str = Field(examples=["I designed the order pipeline at a retailer. …"])
    duration_seconds: int | None = Field(examples=[140])
    created_at: datetime


class SessionLinks(BaseModel):
    self: str
    turns: str = Field(description="POST a question and its answer here.")
    complete: str = Field(description="POST here when the last answer is in.")
    generate_feedback: str = Field(description="POST here to ask for feedback (202).")
    feedback: str = Field(description="GET the feedback here once it exists.")


class SessionOut(BaseModel):
    id: uuid.UUID
    role: str = Field(examples=["Backend engineer"])
    seniority: str = Field(examples=["senior"])
    topic: str = Field(examples=["System design"])
    status: SessionStatus = Field(
        description="in_progress: takes turns; completed: fixed, feedback may be asked for."
    )
    turns: list[TurnOut]
    has_feedback: bool = Field(description="Whether feedback on the session exists.")
    created_at: datetime
    completed_at: datetime | None
    links: SessionLinks


# -- what the model is asked for (OpenAI strict structured outputs: every field
# required, no string length limits) ------------------------------------------------


class QuestionFeedbackAnswer(BaseModel):
    question_number: int = Field(ge=1, description="As numbered in the transcript, from 1.")
    score: int = Field(ge=0, le=100, description="0 (no usable answer) to 100 (outstanding).")
    feedback: str = Field(description="What worked and what did not, 1 to 3 sentences.")
    suggestion: str = Field(description="One concrete thing to do differently next time.")


class FeedbackAnswer(BaseModel):
    """``interview_session_feedback``: the model's feedback on a whole session."""

    overall_score: int = Field(ge=0, le=100, description="0 (poor) to 100 (outstanding).")
    summary: str = Field(description="The overall impression, 2 to 4 sentences.")
    strengths: list[str] = Field(max_length=5)
    areas_to_improve: list[str] = Field(max_length=5)
    questions: list[QuestionFeedbackAnswer] = Field(
        max_length=MAX_TURNS, description="One entry per question, in order."
    )


# -- the stored feedback, as the API and the operation's result show it -------------


class QuestionFeedback(BaseModel):
    position: int = Field(description="The turn it is about.", examples=[1])
    question: str = Field(examples=["Tell me about a system you designed that had to scale."])
    score: int = Field(ge=0, le=100, examples=[80])
    feedback: str = Field(examples=["A clear example with a measured result."])
    suggestion: str = Field(examples=["Say what you load-tested and what it showed."])


class GeneratedBy(BaseModel):
    provider: str = Field(examples=["openai", "local"])
    model: str = Field(examples=["gpt-4o-mini", "extractive-1"])
    prompt: str = Field(examples=["interview_session_feedback"])
    prompt_version: int
    prompt_digest: str


class FeedbackOut(BaseModel):
    id: uuid.UUID
    session_id: uuid.UUID
    operation_id: uuid.UUID | None = Field(
        description="The operation that produced it (null once that operation is pruned)."
    )
    overall_score: int = Field(ge=0, le=100, examples=[72])
    summary: str = Field(
        examples=["You give concrete examples with results; tie them to the trade-offs."]
    )
    strengths: list[str] = Field(examples=[["Concrete results such as halved latency"]])
    areas_to_improve: list[str] = Field(examples=[["Name the trade-offs you weighed"]])
    questions: list[QuestionFeedback] = Field(description="One entry per turn, in order.")
    generated_by: GeneratedBy
    created_at: datetime


class FeedbackParams(BaseModel):
    """Parameters of an ``interview.feedback`` operation."""

    session_id: uuid.UUID
