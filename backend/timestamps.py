"""Times in query strings: ISO 8601 text only.

Pydantic also reads a bare number (``?to=0.5``) as seconds since 1970; a client that
sends one almost certainly meant something else, so such a value is a 422 like any
other malformed time instead of a silently odd period.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from pydantic import BeforeValidator


def _iso_text(value: Any) -> Any:
    if isinstance(value, int | float) or (
        isinstance(value, str) and value.strip().lstrip("+-").replace(".", "", 1).isdigit()
    ):
        raise ValueError("expected an ISO 8601 date or time, not a number")
    return value


IsoDateTime = Annotated[datetime, BeforeValidator(_iso_text)]
IsoDate = Annotated[date, BeforeValidator(_iso_text)]
