"""The cost of the event log: the engine's statement shapes timed with the event
triggers disabled and enabled (part of ``bench.notify``)."""

from __future__ import annotations

import time
import uuid

import asyncpg

EVENT_TRIGGERS = (
    "operations_record_created",
    "operations_record_changed",
    "operations_queue_webhooks",
)


async def trigger_cost(dsn: str, rounds: int) -> dict[str, dict[str, float]]:
    """The same statements with the event triggers disabled and enabled, alternately;
    the best of ``rounds`` of each (the least disturbed by other load)."""
    conn = await asyncpg.connect(dsn)
    tenant = await conn.fetchval(
        "INSERT INTO tenants (id, name) VALUES ($1, 'triggers') RETURNING id", uuid.uuid4()
    )
    timings: dict[bool, list[dict[str, float]]] = {True: [], False: []}
    try:
        for index in range(2 * rounds):
            enabled = index % 2 == 1
            action = "ENABLE" if enabled else "DISABLE"
            await conn.execute(
                "ALTER TABLE operations "
                + ", ".join(f"{action} TRIGGER {name}" for name in EVENT_TRIGGERS)
            )
            timings[enabled].append(await _statements(conn, tenant))
        await conn.execute(
            "ALTER TABLE operations " + ", ".join(f"ENABLE TRIGGER {n}" for n in EVENT_TRIGGERS)
        )
        await conn.execute("DELETE FROM tenants WHERE id = $1", tenant)
    finally:
        await conn.close()
    return {
        name: {
            "without_ms": round(min(t[name] for t in timings[False]) * 1000, 2),
            "with_ms": round(min(t[name] for t in timings[True]) * 1000, 2),
        }
        for name in timings[True][0]
    }


async def _statements(conn: asyncpg.Connection, tenant: uuid.UUID) -> dict[str, float]:
    """Time the engine's statement shapes: a batch of 500 and single-row ones."""
    ids = [uuid.uuid4() for _ in range(500)]
    batch = {
        "enqueue 500 (one INSERT)": (
            "INSERT INTO operations (id, tenant_id, kind)"
            " SELECT unnest($1::uuid[]), $2, 'bench.notify'",
            (ids, tenant),
        ),
        "claim 500 (one UPDATE)": (
            "UPDATE operations SET status = 'processing', attempt = 1, lease_owner = 'b',"
            " version = version + 1 WHERE id = ANY($1)",
            (ids,),
        ),
        "finish 500 (one UPDATE)": (
            "UPDATE operations SET status = 'completed', result = '{}', finished_at = now(),"
            " lease_owner = NULL, version = version + 1 WHERE id = ANY($1)",
            (ids,),
        ),
    }
    timings: dict[str, float] = {}
    for name, (sql, args) in batch.items():
        started = time.perf_counter()
        await conn.execute(sql, *args)
        timings[name] = time.perf_counter() - started
    started = time.perf_counter()
    for op_id in ids[:200]:
        await conn.execute(
            "UPDATE operations SET progress = '{\"percent\": 1}', version = version + 1"
            " WHERE id = $1",
            op_id,
        )
    timings["200 one-row UPDATEs (own transactions)"] = time.perf_counter() - started
    await conn.execute("DELETE FROM operations WHERE tenant_id = $1", tenant)
    return timings


def trigger_rows(triggers: dict[str, dict[str, float]]) -> list[str]:
    if not triggers:
        return []
    rows = [
        f"| {name} | {t['without_ms']:.2f} | {t['with_ms']:.2f} "
        f"| {t['with_ms'] - t['without_ms']:+.2f} |"
        for name, t in triggers.items()
    ]
    return [
        "The cost of the event log (triggers writing one event per change, and the webhook",
        "outbox check), measured on the database: the same statements with the triggers",
        "disabled and enabled, best of the rounds:",
        "",
        "| statements | without ms | with ms | difference ms |",
        "|---|---|---|---|",
        *rows,
        "",
    ]
