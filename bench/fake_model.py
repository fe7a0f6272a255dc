"""An OpenAI-compatible chat completions server for benchmarks: answers every request
with the same answer (a report narrative, or an interview's feedback) after a delay,
fixed or drawn uniformly from a range, and counts the requests.

    python -m bench.fake_model --port 8100 --delay 0.2
    python -m bench.fake_model --port 8100 --delay 1 --delay-max 3 --answer interview

``GET /calls`` answers the number of chat completions served so far. It never calls
anything else: benchmarks never reach the internet.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

NARRATIVE: dict[str, Any] = {
    "headline": "A steady month with clearer writing",
    "summary": "Reviewers praise the clarity of the writing and ask for earlier plans.",
    "highlights": ["Clear, well-structured documents"],
    "themes": ["written communication", "planning"],
    "next_steps": ["Share plans earlier with the team"],
}


INTERVIEW_FEEDBACK: dict[str, Any] = {
    "overall_score": 72,
    "summary": "A clear account of a queue on PostgreSQL, measured before and after.",
    "strengths": ["Measured the change"],
    "areas_to_improve": ["Say what failed first under load"],
    "questions": [
        {
            "question_number": 1,
            "score": 72,
            "feedback": "A concrete system with a measured result.",
            "suggestion": "Name the bottleneck you found and how you found it.",
        }
    ],
}
ANSWERS = {"report": NARRATIVE, "interview": INTERVIEW_FEEDBACK}


def opsapi_settings(database_url: str, model_port: int) -> dict[str, str]:
    """The environment of opsapi processes that use this server as their model (an API
    process without an in-process worker, quiet logs)."""
    return {
        "OPSAPI_DATABASE_URL": database_url,
        "OPSAPI_RUN_WORKER": "false",
        "OPSAPI_LOG_LEVEL": "WARNING",
        "OPSAPI_ENVIRONMENT": "production",
        "OPSAPI_LLM__PROVIDER": "openai",
        "OPSAPI_LLM__API_KEY": "sk-bench-not-a-real-key",
        "OPSAPI_LLM__BASE_URL": f"http://127.0.0.1:{model_port}/v1",
        "OPSAPI_LLM__MODEL": "bench-model",
    }


def build(delay: float, delay_max: float | None = None, answer: str = "report") -> Starlette:
    """The app: each answer after ``delay`` seconds, or a uniform draw up to ``delay_max``."""
    calls = 0
    content = json.dumps(ANSWERS[answer])

    async def chat_completions(request: Request) -> Response:
        nonlocal calls
        body = await request.json()
        calls += 1
        await asyncio.sleep(delay if delay_max is None else random.uniform(delay, delay_max))
        return JSONResponse(
            {
                "id": f"chatcmpl-bench-{calls}",
                "object": "chat.completion",
                "created": 0,
                "model": body["model"],
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content},
                        "finish_reason": "stop",
                        "logprobs": None,
                    }
                ],
                "usage": {"prompt_tokens": 400, "completion_tokens": 80, "total_tokens": 480},
            }
        )

    async def count(_request: Request) -> Response:
        return JSONResponse({"calls": calls})

    return Starlette(
        routes=[
            Route("/v1/chat/completions", chat_completions, methods=["POST"]),
            Route("/calls", count),
        ]
    )


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.fake_model")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--delay", type=float, default=0.2, help="Seconds per answer.")
    parser.add_argument(
        "--delay-max", type=float, default=None, help="Draw each delay from [delay, this]."
    )
    parser.add_argument("--answer", choices=sorted(ANSWERS), default="report")
    args = parser.parse_args(argv)
    app = build(args.delay, args.delay_max, args.answer)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", backlog=4096)


if __name__ == "__main__":
    main(sys.argv[1:])
