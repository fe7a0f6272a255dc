"""The language model layer: one client for every handler, an OpenAI-compatible provider,
an offline local provider, prompt templates, limits and usage accounting.

Nothing here knows about HTTP except ``router`` (the usage endpoint).
"""

from backend.llm.base import TokenCount, Usage
from backend.llm.client import LlmClient, OperationLlm, TextStream
from backend.llm.usage import record_for_operation, record_usage

__all__ = [
    "LlmClient",
    "OperationLlm",
    "TextStream",
    "TokenCount",
    "Usage",
    "record_for_operation",
    "record_usage",
]
