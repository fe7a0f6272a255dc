"""Feature packages register their operation kinds here; the engine never imports them."""

from __future__ import annotations

import importlib

from backend.config import Settings
from backend.operations.registry import Registry


def build_registry(settings: Settings) -> Registry:
    """Every kind this process can create and run: the features', then any configured
    handler modules (each defines ``register(registry)``)."""
    registry = Registry()
    for module_name in settings.handler_modules:
        module = importlib.import_module(module_name)
        register = getattr(module, "register", None)
        if register is None:
            raise ValueError(f"Handler module {module_name!r} defines no register(registry).")
        register(registry)
    return registry
