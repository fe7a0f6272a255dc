"""The one object handlers talk to: render a prompt, respect the limits, call the
provider, and say what the call used.

    result, usage = await llm.generate(
        "review_summary", {"reviews": texts}, schema=FeedbackSummary
    )

    async with llm.stream("review_summary", {"reviews": texts}) as stream:
        async for chunk in stream:
            await ctx.emit("text.delta", {"text": chunk})
    usage = stream.usage

One client per process: it holds the HTTP connection pool, the concurrency cap and
the shared token budget. ``for_operation(ctx)`` gives a handler a view of it that
records every call's usage in the operation's completion transaction.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping
from types import TracebackType
from typing import Any

import httpx2
from sqlalchemy.ext.asyncio import AsyncEngine

from backend.config import LlmSettings, Settings
from backend.llm.base import LlmRequest, Provider, ResultT, TokenCount, Usage
from backend.llm.limits import Reservation, TokenBudget
from backend.llm.local.provider import LocalProvider
from backend.llm.openai_provider import OpenAIProvider
from backend.llm.templates import PromptLibrary, RenderedPrompt
from backend.llm.usage import OperationScope, record_for_operation

log = logging.getLogger(__name__)

# What the token budget reserves for an answer when no output limit is configured;
# the reservation is corrected to the real count after the call.
DEFAULT_ANSWER_ESTIMATE = 512

UsageSink = Callable[[Usage], object]


class LlmClient:
    def __init__(
        self,
        provider: Provider,
        settings: LlmSettings,
        *,
        prompts: PromptLibrary | None = None,
        budget: TokenBudget | None = None,
    ) -> None:
        self.provider = provider
        self.prompts = prompts or PromptLibrary()
        self._settings = settings
        self._slots = asyncio.Semaphore(settings.max_concurrency)
        self._budget = budget

    @classmethod
    def from_settings(
        cls,
        settings: Settings | LlmSettings,
        *,
        engine: AsyncEngine | None = None,
        http_client: httpx2.AsyncClient | None = None,
        prompts: PromptLibrary | None = None,
        budget: TokenBudget | None = None,
    ) -> LlmClient:
        """The configured provider; with ``engine`` and a tokens-per-minute setting, the
        budget shared through that database."""
        config = settings.llm if isinstance(settings, Settings) else settings
        provider: Provider
        if config.resolved_provider() == "local":
            provider = LocalProvider()
        else:
            provider = OpenAIProvider(
                api_key=config.api_key.get_secret_value() if config.api_key else None,
                base_url=config.base_url,
                timeout=config.timeout,
                mode=config.structured_output,
                http_client=http_client,
            )
        # The local provider has no rate limit to protect.
        wanted = config.tokens_per_minute > 0 and provider.name != "local"
        if budget is None and engine is not None and wanted:
            budget = TokenBudget(engine, config.tokens_per_minute)
        return cls(provider, config, prompts=prompts, budget=budget)

    def model_for(self, task: str) -> str:
        return self._settings.models.get(task, self._settings.model)

    async def generate(
        self,
        prompt: str,
        variables: Mapping[str, Any],
        *,
        schema: type[ResultT],
        task: str | None = None,
        usage_sink: UsageSink | None = None,
    ) -> tuple[ResultT, Usage]:
        """An answer of ``schema`` to the prompt rendered with ``variables``, and its usage.

        Raises ``OperationFailure`` for every fault (retryable or permanent), so a
        handler needs no error handling of its own.
        """
        rendered = self.prompts.get(prompt).render(variables)
        request = self._request(rendered, task)
        async with self._slots:
            reservation = await self._reserve(request)
            result, tokens = await self.provider.generate(request, schema)
            await self._settle(reservation, tokens)
        usage = self._usage(rendered, request, tokens)
        if usage_sink is not None:
            usage_sink(usage)
        return result, usage

    def stream(
        self,
        prompt: str,
        variables: Mapping[str, Any],
        *,
        task: str | None = None,
        usage_sink: UsageSink | None = None,
    ) -> TextStream:
        """A text answer chunk by chunk; use it in ``async with`` so an early exit frees
        its concurrency slot at once."""
        rendered = self.prompts.get(prompt).render(variables)
        return TextStream(self, rendered, self._request(rendered, task), usage_sink)

    def for_operation(self, scope: OperationScope) -> OperationLlm:
        """This client for one operation's handler: every call's usage is recorded in
        the operation's completion session."""
        return OperationLlm(self, scope)

    async def aclose(self) -> None:
        await self.provider.aclose()

    # -- internals ------------------------------------------------------------------

    def _request(self, rendered: RenderedPrompt, task: str | None) -> LlmRequest:
        return LlmRequest(
            model=self.model_for(task or rendered.task),
            messages=rendered.messages,
            inputs=rendered.local_texts,
            local=rendered.local,
            max_output_tokens=self._settings.max_output_tokens,
        )

    def _usage(self, rendered: RenderedPrompt, request: LlmRequest, tokens: TokenCount) -> Usage:
        return Usage(
            provider=self.provider.name,
            model=self.provider.model_for(request.model),
            prompt=rendered.name,
            prompt_version=rendered.version,
            prompt_digest=rendered.digest,
            prompt_tokens=tokens.prompt,
            completion_tokens=tokens.completion,
        )

    async def _reserve(self, request: LlmRequest) -> Reservation | None:
        if self._budget is None:
            return None
        answer = request.max_output_tokens or DEFAULT_ANSWER_ESTIMATE
        return await self._budget.reserve(request.model, request.estimated_prompt_tokens() + answer)

    async def _settle(self, reservation: Reservation | None, tokens: TokenCount) -> None:
        if self._budget is None or reservation is None:
            return
        try:
            await self._budget.settle(reservation, tokens.total)
        except Exception as exc:  # noqa: BLE001 - the answer is worth more than the count
            log.warning("settling the token budget failed", extra={"error": type(exc).__name__})


class TextStream:
    """Chunks of a text answer; ``text`` and ``usage`` are set once it has ended."""

    def __init__(
        self,
        client: LlmClient,
        rendered: RenderedPrompt,
        request: LlmRequest,
        usage_sink: UsageSink | None,
    ) -> None:
        self._client = client
        self._rendered = rendered
        self._request = request
        self._usage_sink = usage_sink
        self._chunks: AsyncGenerator[str, None] | None = None
        self.text = ""
        self.usage: Usage | None = None

    def __aiter__(self) -> AsyncIterator[str]:
        if self._chunks is None:
            self._chunks = self._run()
        return self._chunks

    async def __aenter__(self) -> TextStream:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._chunks is not None:
            await self._chunks.aclose()

    async def _run(self) -> AsyncGenerator[str, None]:
        client, request = self._client, self._request
        tokens = TokenCount()
        parts: list[str] = []
        async with client._slots:
            reservation = await client._reserve(request)
            answer = client.provider.stream(request)
            try:
                async for item in answer:
                    if isinstance(item, TokenCount):
                        tokens = item
                    else:
                        parts.append(item)
                        yield item
            finally:
                # Left early: close the provider's stream (and its connection) now.
                await answer.aclose()
            await client._settle(reservation, tokens)
        self.text = "".join(parts)
        self.usage = client._usage(self._rendered, request, tokens)
        if self._usage_sink is not None:
            self._usage_sink(self.usage)


class OperationLlm:
    """An ``LlmClient`` bound to one running operation (``ctx.llm``)."""

    def __init__(self, client: LlmClient, scope: OperationScope) -> None:
        self.client = client
        self._scope = scope

    def _record(self, usage: Usage) -> None:
        record_for_operation(self._scope, usage)

    async def generate(
        self,
        prompt: str,
        variables: Mapping[str, Any],
        *,
        schema: type[ResultT],
        task: str | None = None,
    ) -> tuple[ResultT, Usage]:
        return await self.client.generate(
            prompt, variables, schema=schema, task=task, usage_sink=self._record
        )

    def stream(
        self, prompt: str, variables: Mapping[str, Any], *, task: str | None = None
    ) -> TextStream:
        return self.client.stream(prompt, variables, task=task, usage_sink=self._record)
