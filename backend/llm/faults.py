"""Provider faults as the engine's failures: what is retried, when, and what clients read.

The engine owns retries (the SDK is built with ``max_retries=0``), so each attempt and
its backoff is visible on the operation. Messages here are written for the person
reading the operation; the provider's own text goes to the log only, because it can
quote configuration or input that is not the client's to see.
"""

from __future__ import annotations

import email.utils
import logging
import math
import time
from collections.abc import Mapping

import openai

from backend.operations.exceptions import OperationFailure, PermanentFailure, RetryableFailure

log = logging.getLogger(__name__)

# A provider asking for a longer pause than this is deferred by this long; the
# operation then asks again (a 429 hint does not spend an attempt).
MAX_RETRY_AFTER = 3600.0


class InvalidOutput(PermanentFailure):
    def __init__(self) -> None:
        super().__init__(
            "LLM_INVALID_OUTPUT",
            "The language model's answer did not have the expected structure, even after a "
            "correction was asked for.",
        )


class OutputTruncated(PermanentFailure):
    def __init__(self) -> None:
        super().__init__(
            "LLM_OUTPUT_TRUNCATED",
            "The language model's answer was cut off at its length limit. Shorten the input "
            "or raise the output token limit.",
        )


class ContentFiltered(PermanentFailure):
    def __init__(self) -> None:
        super().__init__(
            "LLM_CONTENT_FILTERED",
            "The language model service's content filter blocked this input.",
        )


class MalformedResponse(RetryableFailure):
    """A 200 whose body is no chat completion: an HTML page from a proxy or gateway, a
    truncated body, JSON of another shape. Usually passing, so it is retried."""

    def __init__(self) -> None:
        super().__init__(
            "LLM_MALFORMED_RESPONSE",
            "The language model service sent a response that is not a chat completion.",
        )


class Refused(PermanentFailure):
    def __init__(self) -> None:
        super().__init__("LLM_REFUSED", "The language model declined to answer this input.")


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``retry-after`` (seconds or an HTTP date)."""
    for name, divisor in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            seconds = float(value) / divisor
        except ValueError:
            continue
        if math.isfinite(seconds):
            return min(max(seconds, 0.0), MAX_RETRY_AFTER)
        return MAX_RETRY_AFTER
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return min(max(moment.timestamp() - time.time(), 0.0), MAX_RETRY_AFTER)


def failure_from(exc: openai.OpenAIError) -> OperationFailure:
    """The engine failure for an SDK error; the provider's detail is logged, not shown."""
    failure = _classify(exc)
    log.warning(
        "language model call failed",
        extra={
            "code": failure.code,
            "retryable": failure.retryable,
            "status": getattr(exc, "status_code", None),
            "provider_code": getattr(exc, "code", None),
            "provider_request_id": getattr(exc, "request_id", None),
            "provider_message": str(exc)[:500],
        },
    )
    return failure


def _classify(exc: openai.OpenAIError) -> OperationFailure:
    # APITimeoutError is a kind of APIConnectionError: ask about it first.
    if isinstance(exc, openai.APITimeoutError):
        return RetryableFailure("LLM_TIMEOUT", "The language model did not answer in time.")
    if isinstance(exc, openai.APIConnectionError):
        return RetryableFailure(
            "LLM_UNREACHABLE", "The language model service could not be reached."
        )
    if isinstance(exc, openai.APIStatusError):
        return _from_status(exc)
    if isinstance(exc, openai.LengthFinishReasonError):
        return OutputTruncated()
    if isinstance(exc, openai.ContentFilterFinishReasonError):
        return ContentFiltered()
    return RetryableFailure("LLM_ERROR", "The language model call failed.")


def _from_status(exc: openai.APIStatusError) -> OperationFailure:
    status = exc.status_code
    code = exc.code or ""
    if status == 429:
        if code == "insufficient_quota":
            return PermanentFailure(
                "LLM_QUOTA_EXCEEDED",
                "The language model account has no quota left. An administrator must add "
                "credit or raise its limit.",
            )
        return RetryableFailure(
            "LLM_RATE_LIMITED",
            "The language model service is limiting requests; the call is deferred.",
            retry_after=parse_retry_after(exc.response.headers),
        )
    if status >= 500 or status in (408, 409):
        return RetryableFailure("LLM_UNAVAILABLE", "The language model service failed to answer.")
    if status == 401:
        return PermanentFailure(
            "LLM_AUTH_FAILED",
            "The language model service refused the configured credentials. An administrator "
            "must check the API key.",
        )
    if status == 403:
        return PermanentFailure(
            "LLM_PERMISSION_DENIED",
            "The configured API key may not use this model or service.",
        )
    if status == 404:
        return PermanentFailure(
            "LLM_MODEL_NOT_FOUND",
            "The configured model or endpoint does not exist on the language model service.",
        )
    if code == "context_length_exceeded":
        return PermanentFailure(
            "LLM_INPUT_TOO_LONG", "The input is too long for the configured language model."
        )
    if code == "content_filter":
        return ContentFiltered()
    return PermanentFailure(
        "LLM_BAD_REQUEST", "The language model service refused the request as invalid."
    )


def refuses_response_format(exc: openai.OpenAIError) -> bool:
    """Whether a 400 says the server does not support ``response_format`` json_schema."""
    if not isinstance(exc, openai.BadRequestError | openai.UnprocessableEntityError):
        return False
    text = f"{exc.param or ''} {exc.message}".lower()
    return "response_format" in text or "json_schema" in text
