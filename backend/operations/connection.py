"""A worker's own asyncpg connections for its hot statements (claims and completions).

The claim and the batched completion are one statement each; run on a plain asyncpg
connection, each is one round trip with a statement asyncpg prepared once, instead
of BEGIN, statement and COMMIT through the ORM's pool. Each connection serves one
caller at a time (the claim loop, the outcome writer), so they never wait on each
other nor on the handlers' sessions.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping

import asyncpg

from backend.config import DatabaseSettings

log = logging.getLogger(__name__)


async def _set_codecs(conn: asyncpg.Connection) -> None:
    # The same JSON handling as SQLAlchemy's asyncpg dialect: parameters are JSON
    # text, results are decoded. The repository's statements then run alike on these
    # connections and on a session's (``repository.fetch``).
    await conn.set_type_codec(
        "jsonb",
        encoder=lambda text: b"\x01" + text.encode(),
        decoder=lambda data: json.loads(data[1:].decode()),
        schema="pg_catalog",
        format="binary",
    )
    await conn.set_type_codec(
        "json",
        encoder=str.encode,
        decoder=lambda data: json.loads(data.decode()),
        schema="pg_catalog",
        format="binary",
    )


class DedicatedConnection:
    """One asyncpg connection, opened on first use and again after a failure.

    ``settings`` are session settings applied on every (re)connect, e.g.
    ``{"synchronous_commit": "off"}`` for the claim connection. Connecting and each
    statement are bounded (as on the pool's connections, ``backend.db``), so a
    database that stops answering fails the statement instead of stalling its caller.
    """

    def __init__(
        self,
        dsn: str,
        *,
        name: str,
        settings: Mapping[str, str] | None = None,
        timeouts: DatabaseSettings | None = None,
    ) -> None:
        self._dsn = dsn
        self._name = name
        self._settings = dict(settings or {})
        self._timeouts = timeouts or DatabaseSettings()
        self._conn: asyncpg.Connection | None = None

    async def get(self) -> asyncpg.Connection:
        """The open connection, connecting first when there is none."""
        if self._conn is not None and not self._conn.is_closed():
            return self._conn
        self._conn = None
        server_settings = {"application_name": f"opsapi-{self._name}", **self._settings}
        conn = await asyncpg.connect(
            self._dsn,
            server_settings=server_settings,
            timeout=self._timeouts.connect_timeout,
            command_timeout=self._timeouts.command_timeout,
        )
        try:
            await _set_codecs(conn)
        except BaseException:
            conn.terminate()
            raise
        self._conn = conn
        return conn

    def discard(self) -> None:
        """Drop the connection after a failed statement: its state is unknown (a
        statement may still run on the server), so the next use opens a new one."""
        if self._conn is not None:
            self._conn.terminate()
            self._conn = None

    async def close(self) -> None:
        if self._conn is not None and not self._conn.is_closed():
            try:
                await self._conn.close(timeout=2)
            except Exception:  # noqa: BLE001 - closing anyway
                self._conn.terminate()
        self._conn = None
