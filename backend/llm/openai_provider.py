"""Any OpenAI-compatible server (OpenAI, Azure OpenAI, Ollama, vLLM, LM Studio) through
the ``openai`` SDK's chat completions.

The SDK never retries (``max_retries=0``): the engine does, so every attempt and its
backoff shows on the operation. Every SDK error leaves as an engine failure
(``faults``); an answer that does not validate gets one correction request.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Mapping, Sequence
from typing import Any, cast

import httpx2
import openai
from openai.types.chat import ChatCompletion, ChatCompletionMessageParam

from backend.llm.base import LlmRequest, ResultT, TokenCount, estimate_tokens
from backend.llm.faults import (
    ContentFiltered,
    InvalidOutput,
    MalformedResponse,
    OutputTruncated,
    Refused,
    failure_from,
    refuses_response_format,
)
from backend.llm.structured import (
    InvalidAnswer,
    Mode,
    parse_answer,
    repair_request,
    response_format,
    schema_instruction,
)

log = logging.getLogger(__name__)

# The SDK wants a key even for servers that need none (Ollama, vLLM); they ignore it.
NO_KEY = "not-needed"


class OpenAIProvider:
    name = "openai"

    def __init__(
        self,
        *,
        api_key: str | None,
        base_url: str | None,
        timeout: float,
        mode: Mode,
        http_client: httpx2.AsyncClient | None = None,
    ) -> None:
        self._client = openai.AsyncOpenAI(
            api_key=api_key or NO_KEY,
            base_url=base_url,
            timeout=timeout,
            max_retries=0,
            http_client=http_client,
        )
        self._mode: Mode = mode

    @property
    def mode(self) -> Mode:
        """How structured answers are asked for now (json_schema may fall back for good)."""
        return self._mode

    def model_for(self, requested: str) -> str:
        return requested

    async def generate(
        self, request: LlmRequest, schema: type[ResultT]
    ) -> tuple[ResultT, TokenCount]:
        try:
            return await self._generate(request, schema)
        except openai.OpenAIError as exc:
            raise failure_from(exc) from exc

    async def _generate(
        self, request: LlmRequest, schema: type[ResultT]
    ) -> tuple[ResultT, TokenCount]:
        mode = self._mode
        try:
            messages = _messages(request, schema, mode)
            completion = await self._create(request, messages, response_format(schema, mode))
        except openai.OpenAIError as exc:
            if mode != "json_schema" or not refuses_response_format(exc):
                raise
            log.warning("the server refuses json_schema answers; using JSON mode from now on")
            mode = self._mode = "json_object"
            messages = _messages(request, schema, mode)
            completion = await self._create(request, messages, response_format(schema, mode))
        tokens = _tokens(completion, request)
        content = _content(completion)
        try:
            return parse_answer(content, schema), tokens
        except InvalidAnswer as problem:
            log.info("answer did not validate; asking once for a correction",
                     extra={"problems": len(problem.problems)})  # fmt: skip
            correction = [
                *messages,
                {"role": "assistant", "content": content or ""},
                {"role": "user", "content": repair_request(problem)},
            ]
        completion = await self._create(request, correction, response_format(schema, mode))
        tokens += _tokens(completion, request)
        try:
            return parse_answer(_content(completion), schema), tokens
        except InvalidAnswer:
            raise InvalidOutput() from None

    async def _create(
        self,
        request: LlmRequest,
        messages: Sequence[Mapping[str, str]],
        fmt: Mapping[str, Any],
    ) -> ChatCompletion:
        try:
            completion: object = await self._client.chat.completions.create(
                model=request.model,
                messages=_sdk_messages(messages),
                response_format=cast(Any, fmt),
                max_completion_tokens=_limit(request),
            )
        except ValueError as exc:  # a body announced as JSON that does not parse
            raise _malformed(exc) from exc
        return _checked(completion)

    async def stream(self, request: LlmRequest) -> AsyncGenerator[str | TokenCount, None]:
        produced: list[str] = []
        tokens: TokenCount | None = None
        try:
            chunks = await self._client.chat.completions.create(
                model=request.model,
                messages=_sdk_messages(request.messages),
                stream=True,
                stream_options={"include_usage": True},
                max_completion_tokens=_limit(request),
            )
            async with chunks:
                async for chunk in chunks:
                    if chunk.usage is not None:
                        usage = chunk.usage
                        tokens = TokenCount(usage.prompt_tokens, usage.completion_tokens)
                    for choice in chunk.choices:
                        if choice.delta.content:
                            produced.append(choice.delta.content)
                            yield choice.delta.content
        except openai.OpenAIError as exc:
            raise failure_from(exc) from exc
        # A server that does not report usage on streams is counted by estimate.
        yield tokens or TokenCount(
            request.estimated_prompt_tokens(), estimate_tokens("".join(produced))
        )

    async def aclose(self) -> None:
        await self._client.close()


def _checked(completion: object) -> ChatCompletion:
    """The completion, validated: the SDK builds its objects from the body without
    checking them, so a body of another shape (or text, when the server did not send
    JSON) would otherwise fail later as an unexplained error of the handler."""
    try:
        if not isinstance(completion, ChatCompletion):
            raise TypeError(f"a {type(completion).__name__} body instead of a completion")
        return ChatCompletion.model_validate(completion.to_dict())
    except (TypeError, ValueError) as exc:  # pydantic's ValidationError is a ValueError
        raise _malformed(exc) from exc


def _malformed(exc: Exception) -> MalformedResponse:
    log.warning(
        "language model response is not a chat completion",
        extra={"code": "LLM_MALFORMED_RESPONSE", "provider_message": str(exc)[:500]},
    )
    return MalformedResponse()


def _messages(request: LlmRequest, schema: type[ResultT], mode: Mode) -> list[dict[str, str]]:
    messages = [dict(m) for m in request.messages]
    if mode == "json_object" and messages and messages[0]["role"] == "system":
        messages[0]["content"] += "\n\n" + schema_instruction(schema)
    return messages


def _sdk_messages(messages: Sequence[Mapping[str, str]]) -> list[ChatCompletionMessageParam]:
    return [cast(ChatCompletionMessageParam, dict(m)) for m in messages]


def _limit(request: LlmRequest) -> int | openai.Omit:
    # Unset, the field is left out: servers that do not know it (Ollama) are not confused.
    return request.max_output_tokens if request.max_output_tokens is not None else openai.omit


def _tokens(completion: ChatCompletion, request: LlmRequest) -> TokenCount:
    if completion.usage is None:
        text = "".join(c.message.content or "" for c in completion.choices)
        return TokenCount(request.estimated_prompt_tokens(), estimate_tokens(text))
    return TokenCount(completion.usage.prompt_tokens, completion.usage.completion_tokens)


def _content(completion: ChatCompletion) -> str | None:
    if not completion.choices:
        return None
    choice = completion.choices[0]
    if choice.finish_reason == "length":
        raise OutputTruncated()
    if choice.finish_reason == "content_filter":
        raise ContentFiltered()
    if choice.message.refusal:
        raise Refused()
    return choice.message.content
