"""The tokens-per-minute budget every process shares, kept in PostgreSQL.

Before a call a process reserves an estimate (the prompt's size plus the answer's
upper bound) in the bucket of the current minute with one atomic statement; after
the call it settles the reservation to what the provider reported. When the minute is
spent the call is not made: the operation is deferred to the next minute with
``RetryableFailure(retry_after=…)``, which frees the worker's slot and spends no
attempt. Waiting in the handler instead would hold a slot other kinds could use.

Each reservation is its own short transaction: no lock is held across the call.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from backend.operations.exceptions import RetryableFailure

# Spread of the deferral past the minute's end, so deferred operations do not all
# come back in the same instant.
DEFER_JITTER = 2.0

# Buckets older than this are deleted when a process opens a new minute.
KEEP_MINUTES = 10

# Served by the primary key (scope, window_start). A reservation that would pass the
# limit updates nothing and returns no row; the first reservation of a minute always
# succeeds, so a call larger than the whole budget still runs (alone in its minute).
RESERVE = text(
    """
    INSERT INTO llm_token_buckets AS b (scope, window_start, tokens)
    VALUES (:scope, date_trunc('minute', COALESCE(CAST(:at AS timestamptz), now())), :tokens)
    ON CONFLICT (scope, window_start) DO UPDATE
        SET tokens = b.tokens + EXCLUDED.tokens
        WHERE b.tokens + EXCLUDED.tokens <= :limit
    RETURNING window_start, tokens, (xmax = 0) AS opened
    """
)

SECONDS_LEFT = text(
    """
    SELECT EXTRACT(EPOCH FROM date_trunc('minute', t) + interval '1 minute' - t)
    FROM (SELECT COALESCE(CAST(:at AS timestamptz), now()) AS t) AS moment
    """
)

SETTLE = text(
    """
    UPDATE llm_token_buckets SET tokens = GREATEST(tokens + :delta, 0)
    WHERE scope = :scope AND window_start = :window_start
    """
)

PRUNE = text(
    "DELETE FROM llm_token_buckets "
    "WHERE window_start < CAST(:window_start AS timestamptz) - make_interval(mins => :keep)"
)


class BudgetExhausted(RetryableFailure):
    def __init__(self, retry_after: float) -> None:
        super().__init__(
            "LLM_BUDGET_EXHAUSTED",
            "The language model token budget for this minute is spent; the call is deferred.",
            retry_after=retry_after,
        )


@dataclass(frozen=True)
class Reservation:
    scope: str
    window_start: datetime
    tokens: int


class TokenBudget:
    """``tokens_per_minute`` per scope (a model), shared through the database."""

    def __init__(
        self,
        engine: AsyncEngine,
        tokens_per_minute: int,
        *,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._engine = engine
        self.tokens_per_minute = tokens_per_minute
        # Tests pin the minute; in production the database's clock decides for everyone.
        self._clock = clock

    async def reserve(self, scope: str, tokens: int) -> Reservation:
        """Take ``tokens`` from this minute's budget, or raise ``BudgetExhausted``."""
        at = self._clock() if self._clock is not None else None
        async with self._engine.begin() as conn:
            row = (
                await conn.execute(
                    RESERVE,
                    {"scope": scope, "at": at, "tokens": tokens, "limit": self.tokens_per_minute},
                )
            ).first()
            if row is None:
                left = float((await conn.execute(SECONDS_LEFT, {"at": at})).scalar_one())
                raise BudgetExhausted(left + random.uniform(0, DEFER_JITTER))
            if row.opened:
                await conn.execute(PRUNE, {"window_start": row.window_start, "keep": KEEP_MINUTES})
        return Reservation(scope, row.window_start, tokens)

    async def settle(self, reservation: Reservation, used: int) -> None:
        """Correct the reservation's minute to the tokens actually used."""
        delta = used - reservation.tokens
        if delta == 0:
            return
        async with self._engine.begin() as conn:
            await conn.execute(
                SETTLE,
                {
                    "delta": delta,
                    "scope": reservation.scope,
                    "window_start": reservation.window_start,
                },
            )

    async def spent(self, scope: str, window_start: datetime) -> int:
        """Tokens counted in one minute (for operators and tests)."""
        async with self._engine.connect() as conn:
            value = await conn.scalar(
                text(
                    "SELECT tokens FROM llm_token_buckets "
                    "WHERE scope = :scope AND window_start = :window_start"
                ),
                {"scope": scope, "window_start": window_start},
            )
        return int(value or 0)
