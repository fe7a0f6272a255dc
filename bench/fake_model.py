"""An OpenAI-compatible chat completions server for benchmarks: answers every request
with the same report narrative after a fixed delay, and counts the requests.

    python -m bench.fake_model --port 8100 --delay 0.2

``GET /calls`` answers the number of chat completions served so far. It never calls
anything else: benchmarks never reach the internet.
"""

from __future__ import annotations

import argparse
import asyncio
import json
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


def build(delay: float) -> Starlette:
    calls = 0

    async def chat_completions(request: Request) -> Response:
        nonlocal calls
        body = await request.json()
        calls += 1
        await asyncio.sleep(delay)
        return JSONResponse(
            {
                "id": f"chatcmpl-bench-{calls}",
                "object": "chat.completion",
                "created": 0,
                "model": body["model"],
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": json.dumps(NARRATIVE)},
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
    args = parser.parse_args(argv)
    uvicorn.run(build(args.delay), host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main(sys.argv[1:])
