"""Results of the scale benchmark: summaries, the JSON record, the section in the docs."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
START_MARKER = "<!-- scale:start -->"
END_MARKER = "<!-- scale:end -->"

# The targets.
CLAIM_RATE_RATIO = 0.8  # claim rate with the large table ≥ 80 % of the empty table's
GET_P99_MS = 5.0
LIST_P99_MS = 20.0


def latency_summary(seconds: list[float]) -> dict[str, float]:
    """Count, p50/p90/p99 and max of latencies, in milliseconds."""
    ms = sorted(s * 1000 for s in seconds)
    cuts = statistics.quantiles(ms, n=100, method="inclusive")
    return {
        "count": len(ms),
        "p50_ms": round(cuts[49], 3),
        "p90_ms": round(cuts[89], 3),
        "p99_ms": round(cuts[98], 3),
        "max_ms": round(ms[-1], 3),
    }


def _git_commit() -> str:
    """The commit measured, marked ``+dirty`` when backend/ had uncommitted changes."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "backend"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        ).stdout.strip()
    except OSError:
        return "unknown"
    return f"{commit}+dirty" if dirty else commit


def build_results(
    *,
    command: str,
    postgres: str,
    args: dict[str, Any],
    table: dict[str, int],
    generated_seconds: float,
    claim_rates: dict[str, float],
    reads: dict[str, list[float]],
    pruning: dict[str, float],
) -> dict[str, Any]:
    summaries = {name: latency_summary(values) for name, values in reads.items()}
    ratio = claim_rates["large"] / claim_rates["empty"]
    list_p99 = max(summaries["list_kind_status"]["p99_ms"], summaries["list_batch"]["p99_ms"])
    return {
        "command": command,
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": _git_commit(),
        "machine": {
            "nproc": len(os.sched_getaffinity(0)),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "postgresql": postgres,
        },
        "parameters": {k: str(v) if isinstance(v, Path) else v for k, v in args.items()},
        "table": table,
        "generate_seconds": round(generated_seconds, 1),
        "claim": {
            "empty_table_per_second": round(claim_rates["empty"]),
            "large_table_per_second": round(claim_rates["large"]),
            "ratio": round(ratio, 3),
        },
        "reads": summaries,
        "prune": pruning,
        "targets": {
            "claim_rate_within_20_percent": ratio >= CLAIM_RATE_RATIO,
            "get_p99_at_most_5_ms": summaries["get_query"]["p99_ms"] <= GET_P99_MS,
            "list_p99_at_most_20_ms": list_p99 <= LIST_P99_MS,
        },
    }


def write_json(path: Path, results: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


def _verdict(met: bool) -> str:
    return "met" if met else "**missed**"


def render(results: dict[str, Any]) -> str:
    """The scale section of docs/benchmarks.md, markers included."""
    claim, reads, prune, met = (
        results["claim"],
        results["reads"],
        results["prune"],
        results["targets"],
    )
    table = results["table"]
    machine = results["machine"]
    finished = f"{results['parameters']['finished']:,}"
    pending = f"{results['parameters']['pending']:,}"
    rows: list[tuple[str, str, float, bool | None]] = [
        ("GET /operations/{id}, the query", "get_query", GET_P99_MS, met["get_p99_at_most_5_ms"]),
        ("GET /operations/{id}, a session per request", "get", GET_P99_MS, None),
        (
            "list page, `status=completed&kind=…`",
            "list_kind_status",
            LIST_P99_MS,
            met["list_p99_at_most_20_ms"],
        ),
        ("list page, `batch_id=…`", "list_batch", LIST_P99_MS, met["list_p99_at_most_20_ms"]),
    ]
    lines = [
        START_MARKER,
        f"## Scale: {finished} finished operations",
        "",
        f"Measured {results['measured_at']} at commit `{results['commit']}` on "
        f"{machine['nproc']} CPUs, PostgreSQL {machine['postgresql']}, Python "
        f"{machine['python']}, with:",
        "",
        "```",
        results["command"],
        "```",
        "",
        f"The table held {table['operations']:,} operations ({table['pending']:,} pending, "
        f"{table['bytes'] / 2**20:,.0f} MiB with its indexes) and {table['events']:,} "
        f"events, all in one tenant (the worst case for tenant-scoped lists). The finished "
        f"rows were made by one `INSERT … SELECT generate_series` in "
        f"{results['generate_seconds']} s. Reads are timed in-process at the database "
        "layer (`service.get_operation`, `service.list_operations`) over random "
        "operations and random keyset positions: list pages each in a session of its own "
        "as an API request has (pool checkout with its ping, the query, the closing "
        "rollback); GET both as the query alone, in an open session with a fresh "
        "transaction each time (the target's measure), and with a session of its own.",
        "",
        "| measure | result | target | |",
        "|---|---|---|---|",
        f"| claim rate, {pending} pending alone | {claim['empty_table_per_second']:,}/s | | |",
        f"| claim rate, {pending} pending with {finished} finished | "
        f"{claim['large_table_per_second']:,}/s "
        f"({claim['ratio']:.0%} of the above) | ≥ 80 % | "
        f"{_verdict(met['claim_rate_within_20_percent'])} |",
    ]
    for label, key, target, ok in rows:
        r = reads[key]
        goal = f"p99 ≤ {target:g} ms" if ok is not None else "(for reference)"
        verdict = _verdict(ok) if ok is not None else ""
        lines.append(
            f"| {label} | p50 {r['p50_ms']:.2f} ms, p99 {r['p99_ms']:.2f} ms | {goal} | {verdict} |"
        )
    lines += [
        f"| prune {prune['pruned']:,} expired operations ({prune['batches_pruned']} "
        f"batches), steps of {results['parameters']['prune_batch']:,} | "
        f"{prune['seconds']} s ({prune['rows_per_second']:,} rows/s) | | |",
        "",
        "The claim is one claimer taking 10 operations per transaction, as a worker "
        f"with ten free places does, until the {pending} pending are claimed; the rates are "
        f"medians of {results['parameters']['claim_runs']} runs on each table, the "
        "empty one (a database of its own) and the large one taking turns, so that "
        "other load on the machine weighs on both alike. The claim walks the partial "
        "index `ix_operations_pending`, which holds pending rows only, so finished rows "
        "never enter its work. Pruning "
        "deletes oldest-expired first through `ix_operations_expires_at`, each step its "
        "own transaction, with the operations' events (ON DELETE CASCADE) and the batches "
        "it empties.",
        END_MARKER,
    ]
    return "\n".join(lines) + "\n"


def update_docs(path: Path, section: str) -> None:
    """Replace the scale section between its markers, or append it; nothing else."""
    current = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    start, end = current.find(START_MARKER), current.find(END_MARKER)
    if start != -1 and end != -1:
        updated = current[:start] + section.rstrip("\n") + current[end + len(END_MARKER) :]
    else:
        updated = current.rstrip("\n") + "\n\n" + section
    path.write_text(updated, encoding="utf-8")
