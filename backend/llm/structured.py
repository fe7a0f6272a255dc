"""Structured answers: how the schema is asked for, and how an answer is read and repaired.

Two ways to ask: ``json_schema`` (the server constrains its output to the schema, in
OpenAI's strict form) and ``json_object`` (JSON mode; the schema travels in the
prompt, for servers without schema support). Either way the answer is validated here,
and one invalid answer earns one request for a correction quoting what was wrong.
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

from openai.lib import type_to_response_format_param
from pydantic import BaseModel, ValidationError

from backend.llm.base import ResultT

Mode = Literal["json_schema", "json_object"]

_FENCED_JSON = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.DOTALL | re.IGNORECASE)

# How many validation problems a correction request quotes.
MAX_QUOTED_ERRORS = 10


class InvalidAnswer(ValueError):
    """The answer is not JSON of the expected shape; ``problems`` says why, briefly."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def response_format(schema: type[BaseModel], mode: Mode) -> dict[str, Any]:
    if mode == "json_schema":
        fmt: dict[str, Any] = dict(type_to_response_format_param(schema))  # type: ignore[arg-type]
        return fmt
    return {"type": "json_object"}


def schema_instruction(schema: type[BaseModel]) -> str:
    """What JSON mode adds to the system message: the shape the answer must have."""
    return (
        "Answer with one JSON object only, no prose and no code fence, that conforms to "
        "this JSON Schema:\n" + json.dumps(schema.model_json_schema(), separators=(",", ":"))
    )


def parse_answer(content: str | None, schema: type[ResultT]) -> ResultT:
    """The answer as ``schema``, tolerating a code fence or text around the object."""
    if not content or not content.strip():
        raise InvalidAnswer(["the answer was empty"])
    fenced = _FENCED_JSON.match(content)
    text = fenced.group(1) if fenced else content.strip()
    try:
        return schema.model_validate_json(text)
    except ValidationError as exc:
        if not _is_json_error(exc):
            raise InvalidAnswer(_problems(exc)) from exc
    # Some servers wrap the object in prose: try the outermost braces.
    start, end = text.find("{"), text.rfind("}")
    if 0 <= start < end:
        try:
            return schema.model_validate_json(text[start : end + 1])
        except ValidationError as exc:
            if not _is_json_error(exc):
                raise InvalidAnswer(_problems(exc)) from exc
    raise InvalidAnswer(["the answer was not a JSON object"])


def repair_request(problem: InvalidAnswer) -> str:
    """The user message asking for a corrected answer."""
    listed = "\n".join(f"- {p}" for p in problem.problems[:MAX_QUOTED_ERRORS])
    return (
        "Your previous answer does not match the required JSON structure:\n"
        f"{listed}\n"
        "Answer again with the complete, corrected JSON object only."
    )


def _is_json_error(exc: ValidationError) -> bool:
    return any(error["type"] == "json_invalid" for error in exc.errors())


def _problems(exc: ValidationError) -> list[str]:
    # Locations and messages only: the answer's own values are not repeated back.
    return [
        f"{'.'.join(str(part) for part in error['loc']) or 'answer'}: {error['msg']}"
        for error in exc.errors(include_url=False, include_input=False)
    ]
