"""Recently authenticated API keys, kept in the API process for a few seconds so that a
busy key costs no database round trip per request.

What would make a cached answer wrong reaches every API process through PostgreSQL
notifications, on the connection each process already listens on:

- a revoked key (``auth.service.CHANNEL_KEY_REVOKED``, sent by ``revoke_key`` in the
  revoking transaction) is forgotten at once;
- a client or credential that has used up its failed authentications
  (``auth.failures.CHANNEL_AUTH_BLOCKED``, sent by ``record_failure``) is looked up in
  the database again for the rest of its window, where the block applies to every key
  it presents. A client that failed in this process is treated so at once.

While the process is not listening (its connection lost) nothing is answered from the
cache, and what it held is dropped when listening resumes: a notice sent meanwhile may
have been missed. ``seconds`` bounds how stale an entry can be in any case.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

from backend.auth.failures import Attempt
from backend.auth.service import Caller

MAX_KEYS = 10_000


class KeyCache:
    """Callers by presented credential (``Attempt.credential``: the key's hash)."""

    def __init__(
        self,
        seconds: float,
        *,
        window_seconds: float,
        listening: Callable[[], bool],
        max_keys: int = MAX_KEYS,
    ) -> None:
        self._seconds = seconds
        self._window = window_seconds
        self._listening = listening
        self._max_keys = max_keys
        self._callers: dict[str, tuple[Caller, float]] = {}
        # Subjects (clients, credentials) that failed or are blocked, until their window
        # ends: their keys are checked in the database, where blocks are counted.
        self._suspects: dict[str, float] = {}
        # More suspects than can be remembered (a flood from many addresses): nothing is
        # answered from the cache until this moment.
        self._bypass_until = 0.0

    def get(self, attempt: Attempt) -> Caller | None:
        if self._seconds <= 0 or not self._callers:
            return None
        entry = self._callers.get(attempt.credential)
        if entry is None:
            return None
        caller, expires = entry
        now = time.monotonic()
        if expires <= now:
            del self._callers[attempt.credential]
            return None
        if now < self._bypass_until:
            return None
        if self._suspected(attempt.client, now) or self._suspected(attempt.credential, now):
            return None
        if not self._listening():
            return None
        return caller

    def put(self, attempt: Attempt, caller: Caller) -> None:
        if self._seconds <= 0:
            return
        now = time.monotonic()
        if len(self._callers) >= self._max_keys:
            self._callers = {c: e for c, e in self._callers.items() if e[1] > now}
            if len(self._callers) >= self._max_keys:
                # Still full of live entries: the oldest half goes.
                kept = list(self._callers.items())[self._max_keys // 2 :]
                self._callers = dict(kept)
        self._callers[attempt.credential] = (caller, now + self._seconds)

    def failed(self, attempt: Attempt) -> None:
        """A failed authentication in this process: its client is checked in the
        database from now on, wherever its failures end up blocking it."""
        self._suspect(attempt.client)

    def on_key_revoked(self, payload: str) -> None:
        """Notice of ``auth.service.CHANNEL_KEY_REVOKED``: the revoked key's id."""
        try:
            key_id = uuid.UUID(payload)
        except ValueError:
            self.clear()
            return
        self._callers = {c: e for c, e in self._callers.items() if e[0].key_id != key_id}

    def on_blocked(self, payload: str) -> None:
        """Notice of ``auth.failures.CHANNEL_AUTH_BLOCKED``: blocked subjects, one per line."""
        for subject in payload.splitlines():
            self._suspect(subject)

    def clear(self) -> None:
        self._callers.clear()

    def _suspect(self, subject: str) -> None:
        now = time.monotonic()
        if len(self._suspects) >= self._max_keys:
            self._suspects = {s: until for s, until in self._suspects.items() if until > now}
            if len(self._suspects) >= self._max_keys:
                self._suspects.clear()
                self._bypass_until = now + self._window
        self._suspects[subject] = now + self._window

    def _suspected(self, subject: str, now: float) -> bool:
        until = self._suspects.get(subject)
        if until is None:
            return False
        if until <= now:
            del self._suspects[subject]
            return False
        return True
