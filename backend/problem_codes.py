"""Which problem ``code``s each documented error answer can carry, named in the
OpenAPI document so clients can branch on them.

A route's codes are those of the application errors its router module can reach by
import (its own, its service's, their exceptions modules', the authentication's), at
the status of each documented answer, plus the codes the app's error handlers give
everywhere (``INVALID_BODY``, ``PAYLOAD_TOO_LARGE``, ``VALIDATION_ERROR``,
``DATABASE_UNAVAILABLE``) and, on creates that take
an ``Idempotency-Key``, the idempotency codes. Reachability by import over-approximates
what one route raises (a router module serves several routes); it never misses a code
raised through the modules it imports.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from types import ModuleType
from typing import Any

from backend.errors import AppError

# How far imports are followed from a router module: its service and exceptions
# (1), what those import (2). Deeper reaches the whole application.
IMPORT_DEPTH = 2
HANDLER_CODES = {
    400: {"INVALID_BODY"},
    413: {"PAYLOAD_TOO_LARGE"},
    422: {"VALIDATION_ERROR"},
    503: {"DATABASE_UNAVAILABLE"},
}
IDEMPOTENCY_MODULE = "backend.operations.idempotency"
AUTH_MODULES = ("backend.auth.dependencies",)
# Authentication is reached through its dependencies module only: its service's
# errors (a tenant that exists, a key not found) belong to the admin commands.
_AUTH_PACKAGE = "backend.auth."


def reachable_errors(module_name: str, depth: int = IMPORT_DEPTH) -> set[type[AppError]]:
    """Application errors named in ``module_name`` or the backend modules it imports,
    ``depth`` imports deep (not into ``backend.auth``)."""
    found: set[type[AppError]] = set()
    seen: set[str] = set()
    frontier = [module_name]
    for _ in range(depth + 1):
        following: list[str] = []
        for name in frontier:
            module = sys.modules.get(name)
            if name in seen or module is None or (seen and name.startswith(_AUTH_PACKAGE)):
                continue
            seen.add(name)
            for value in vars(module).values():
                if isinstance(value, type) and issubclass(value, AppError):
                    found.add(value)
                following += _backend_module_of(value)
        frontier = following
    return found


def _backend_module_of(value: Any) -> list[str]:
    if isinstance(value, ModuleType):
        name = value.__name__
    else:
        name = getattr(value, "__module__", None) or ""
    return [name] if name.startswith("backend.") else []


def codes_by_status(
    endpoint: Callable[..., Any], statuses: Iterable[int], idempotent: bool
) -> dict[int, list[str]]:
    """The codes each error status of ``endpoint``'s answers can carry."""
    errors = reachable_errors(endpoint.__module__)
    for name in AUTH_MODULES + ((IDEMPOTENCY_MODULE,) if idempotent else ()):
        errors |= reachable_errors(name, depth=0)
    answer: dict[int, list[str]] = {}
    for status in statuses:
        generic = {error.code for error in _generic_errors() if error.status == status}
        codes = {
            error.code
            for error in errors
            if error.status == status and error.code not in generic | {AppError.code}
        }
        codes |= HANDLER_CODES.get(status, set())
        if not codes:
            codes = generic
        answer[status] = sorted(codes)
    return answer


def _generic_errors() -> list[type[AppError]]:
    """The base errors every route may answer with (``NOT_FOUND``, ``CONFLICT`` …)."""
    return [error for error in AppError.__subclasses__() if error.__module__ == "backend.errors"]
