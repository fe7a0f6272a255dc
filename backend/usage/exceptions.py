"""Errors the usage endpoint answers with."""

from __future__ import annotations

from backend.errors import AppError


class InvalidUsagePeriod(AppError):
    status = 422
    code = "INVALID_USAGE_PERIOD"
    title = "Invalid usage period"
