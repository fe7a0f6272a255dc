"""Feature packages register their operation kinds here; the engine never imports them."""

from __future__ import annotations

import importlib
import os
import sys

from backend.config import Settings
from backend.features.documents.handlers import register_documents
from backend.features.feedback.registration import register_feedback
from backend.features.interviews.handlers import register_interviews
from backend.features.reports.handlers import register_reports
from backend.operations.registry import Registry
from backend.operations.webhooks import register_webhooks


def build_registry(settings: Settings) -> Registry:
    """Every kind this process can create and run: the engine's own (webhook delivery),
    the features', then any configured handler modules (each defines
    ``register(registry)``)."""
    registry = Registry()
    register_webhooks(registry, settings)
    register_interviews(registry)
    register_feedback(registry)
    register_documents(registry, settings)
    register_reports(registry)
    # Console scripts do not put the working directory on the path; handler modules
    # of a deployment (or its tests) usually live there.
    if settings.handler_modules and os.getcwd() not in sys.path:
        sys.path.append(os.getcwd())
    for module_name in settings.handler_modules:
        module = importlib.import_module(module_name)
        register = getattr(module, "register", None)
        if register is None:
            raise ValueError(f"Handler module {module_name!r} defines no register(registry).")
        register(registry)
    return registry
