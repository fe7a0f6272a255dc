"""Results of the engine benchmark: summaries, the JSON record, the table in the docs."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import asyncpg

from bench.database import UnsafeDatabase
from bench.measure import Enqueued, PickupRun, ThroughputRun

ROOT = Path(__file__).resolve().parent.parent
START_MARKER = "<!-- engine:start -->"
END_MARKER = "<!-- engine:end -->"

TARGET_THROUGHPUT = 2000.0  # operations/s at concurrency 10, one worker process
TARGET_PICKUP_P50_MS = 5.0


def latency_summary(seconds: list[float]) -> dict[str, float | int]:
    """Count, mean, p50/p90/p99 and max of latencies, in milliseconds."""
    ms = sorted(s * 1000 for s in seconds)
    cuts = statistics.quantiles(ms, n=100, method="inclusive")
    return {
        "count": len(ms),
        "mean_ms": round(statistics.fmean(ms), 3),
        "min_ms": round(ms[0], 3),
        "p50_ms": round(cuts[49], 3),
        "p90_ms": round(cuts[89], 3),
        "p99_ms": round(cuts[98], 3),
        "max_ms": round(ms[-1], 3),
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _git(*args: str) -> str:
    out = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True)
    return out.stdout.strip()


def _git_commit() -> str:
    """The commit measured, marked ``+dirty`` when backend/ had uncommitted changes."""
    try:
        commit = _git("rev-parse", "--short", "HEAD")
        dirty = _git("status", "--porcelain", "--", "backend")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{commit}+dirty" if dirty else commit


def machine_info(postgres_version: str) -> dict[str, Any]:
    """What the figures were measured on."""
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu": _cpu_model(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "postgresql": postgres_version,
        "sqlalchemy": metadata.version("sqlalchemy"),
        "asyncpg": metadata.version("asyncpg"),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "commit": _git_commit(),
        # Other work on the machine skews the figures: record how busy it was.
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def _enqueue_record(enqueued: Enqueued) -> dict[str, Any]:
    return {
        "count": enqueued.count,
        "batch_size": enqueued.batch_size,
        "seconds": round(enqueued.seconds, 3),
        "per_second": round(enqueued.per_second, 1),
    }


def _run_record(run: ThroughputRun) -> dict[str, Any]:
    return {
        "per_second": round(run.per_second, 1),
        "per_second_total": round(run.per_second_total, 1),
        "span_seconds": round(run.span_seconds, 3),
        "total_seconds": round(run.total_seconds, 3),
        "first_seen_seconds": round(run.first_seen_seconds, 3),
        "enqueue": _enqueue_record(run.enqueued),
    }


def _throughput_record(runs: list[ThroughputRun]) -> dict[str, Any]:
    """The median run of one concurrency (by rate), with every run kept beside it."""
    ordered = sorted(runs, key=lambda run: run.per_second)
    median = ordered[(len(ordered) - 1) // 2]
    return {
        "concurrency": median.concurrency,
        "count": median.count,
        **_run_record(median),
        "runs": [_run_record(run) for run in runs],
    }


def build_results(
    *,
    command: str,
    machine: dict[str, Any],
    create_latencies: list[float],
    runs: list[list[ThroughputRun]],
    pickup: PickupRun | None,
) -> dict[str, Any]:
    """The JSON record of one benchmark run."""
    return {
        "benchmark": "engine",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": command,
        "machine": machine,
        "create_latency": latency_summary(create_latencies) if create_latencies else None,
        "throughput": [_throughput_record(group) for group in runs if group],
        "pickup": (
            {
                "concurrency": pickup.concurrency,
                "interval_ms": round(pickup.interval_seconds * 1000, 1),
                **latency_summary(pickup.latencies),
            }
            if pickup is not None and pickup.latencies
            else None
        ),
        "targets": {
            "throughput_c10_per_second": TARGET_THROUGHPUT,
            "pickup_p50_ms": TARGET_PICKUP_P50_MS,
        },
    }


def write_json(path: Path, results: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n")


# -- docs/benchmarks.md ---------------------------------------------------------------


def _fmt(value: float, digits: int = 0) -> str:
    return f"{value:,.{digits}f}"


def _verdict(met: bool) -> str:
    return "met" if met else "**not met**"


def _throughput_rows(results: dict[str, Any]) -> list[str]:
    rows = []
    for run in results["throughput"]:
        target = ""
        if run["concurrency"] == 10:
            met = run["per_second"] >= TARGET_THROUGHPUT
            target = f"≥ {_fmt(TARGET_THROUGHPUT)}/s: {_verdict(met)}"
        rates = sorted(r["per_second"] for r in run["runs"])
        spread = f"; runs {_fmt(rates[0])}–{_fmt(rates[-1])}/s" if len(rates) > 1 else ""
        rows.append(
            f"| worker throughput, concurrency {run['concurrency']} "
            f"| {_fmt(run['per_second'])}/s ({_fmt(run['per_second_total'])}/s with start-up"
            f"{spread}) | {target} |"
        )
    return rows


def _latency_rows(results: dict[str, Any]) -> list[str]:
    rows = []
    pickup = results["pickup"]
    if pickup is not None:
        met = pickup["p50_ms"] <= TARGET_PICKUP_P50_MS
        rows.append(
            f"| pickup latency, idle worker (commit → handler start) "
            f"| p50 {pickup['p50_ms']:.1f} ms, p99 {pickup['p99_ms']:.1f} ms "
            f"| p50 ≤ {TARGET_PICKUP_P50_MS:g} ms: {_verdict(met)} |"
        )
    create = results["create_latency"]
    if create is not None:
        rows.append(
            f"| create latency, one operation per transaction "
            f"| p50 {create['p50_ms']:.1f} ms, p99 {create['p99_ms']:.1f} ms | |"
        )
    enqueues = [r["enqueue"] for run in results["throughput"] for r in run["runs"]]
    if enqueues:
        rate = sum(e["count"] for e in enqueues) / sum(e["seconds"] for e in enqueues)
        each = sorted(e["per_second"] for e in enqueues)
        rows.append(
            f"| enqueue rate, {enqueues[0]['batch_size']} operations per transaction "
            f"| {_fmt(rate)}/s ({len(each)} runs, {_fmt(each[0])}–{_fmt(each[-1])}/s) | |"
        )
    return rows


def invocation_summary(results: dict[str, Any]) -> dict[str, Any]:
    """One invocation of the command in a line: when, where, the medians it measured."""
    rates = {f"c{run['concurrency']}": run["per_second"] for run in results["throughput"]}
    pickup = results["pickup"]
    return {
        "measured_at": results["measured_at"],
        "commit": results["machine"]["commit"],
        "load_average": results["machine"]["load_average"][0],
        "per_second": rates,
        "pickup_p50_ms": pickup["p50_ms"] if pickup is not None else None,
    }


def _invocation_rows(results: dict[str, Any]) -> list[str]:
    earlier = results.get("earlier") or []
    if not earlier:
        return []
    invocations = [*earlier, invocation_summary(results)]
    names = sorted({k for i in invocations for k in i["per_second"]}, key=lambda k: int(k[1:]))
    lines = [
        "",
        f"The command was run {len(invocations)} times (the table above is the last); each "
        "row gives the medians of one invocation. Other work shared the machine during "
        "some of them, which the load average read before a run shows only in part:",
        "",
        "| measured (UTC) | commit | load average before | "
        + " | ".join(f"concurrency {k[1:]}" for k in names)
        + " | pickup p50 |",
        "|---|---|---|" + "---|" * len(names) + "---|",
    ]
    for i in invocations:
        rates = " | ".join(
            f"{_fmt(i['per_second'][k])}/s" if k in i["per_second"] else "" for k in names
        )
        p50 = f"{i['pickup_p50_ms']:.2f} ms" if i["pickup_p50_ms"] is not None else ""
        lines.append(
            f"| {i['measured_at'][:16].replace('T', ' ')} | `{i['commit']}` "
            f"| {i['load_average']:g} | {rates} | {p50} |"
        )
    return lines


def render_section(results: dict[str, Any]) -> str:
    """The engine section of docs/benchmarks.md, markers included."""
    m = results["machine"]
    pickup = results["pickup"]
    n = results["throughput"][0]["count"] if results["throughput"] else 0
    lines = [
        START_MARKER,
        "## Engine: throughput and pickup latency",
        "",
        f"Measured {results['measured_at'][:10]} at commit `{m['commit']}` on {m['nproc']} cores "
        f"({m['cpu']}), Python {m['python']}, PostgreSQL {m['postgresql']}, "
        f"SQLAlchemy {m['sqlalchemy']}, asyncpg {m['asyncpg']}; load average before the "
        f"run {m['load_average'][0]:g} (other work on the machine shows in the figures). "
        f"One worker process, {_fmt(n)} no-op operations per throughput run.",
        "",
        "```sh",
        results["command"],
        "```",
        "",
        "| measure | opsapi | target |",
        "|---|---|---|",
        *_throughput_rows(results),
        *_latency_rows(results),
        *_invocation_rows(results),
        "",
        "The same workload through procrastinate and pgqueuer, measured in one run beside "
        "opsapi: [Engine throughput beside the peers](#engine-throughput-beside-the-peers) "
        "(`make bench-peers`).",
        "",
        "Where the time goes: a claim is one statement on the worker's own asyncpg "
        "connection (prepared once, no ORM, no `BEGIN`/`COMMIT`, `synchronous_commit = "
        "off`: a lost claim is rescued when its lease expires), taking as many operations "
        "as there are free handler slots; outcomes are batched, one fenced statement per "
        "batch on a second connection that commits synchronously, and a handler's slot is "
        "free as soon as it returns, so claims overlap the outcome writes; the worker runs "
        "on uvloop. Profiles of a run come from `--cprofile DIR`. Before this path "
        "(commit `91b41a4`, ORM transactions for each claim and each batch of outcomes) the "
        "same command measured 127/s at concurrency 1, 1,454/s at concurrency 10 and a "
        "pickup p50 of 2.6 ms.",
        "",
        "How it is measured:",
        "",
        "- Operations are created through `service.create_operation`, as features create "
        "them; the enqueue rate times batches of operations, one transaction per batch.",
        "- Throughput: the operations are enqueued first, then one `opsapi worker` process "
        "is started. The rate is the count divided by the time between the first and the "
        'last `finished_at`; "with start-up" divides by the time from starting the process '
        "until a poll (every 100 ms) sees all of them completed. The table is truncated and "
        "analysed before each run; each concurrency runs several times and the median run "
        "is shown, with the range of all runs.",
    ]
    if pickup is not None:
        lines.append(
            f"- Pickup: with an idle worker (concurrency {pickup['concurrency']}), "
            f"{pickup['count']} operations are created one per transaction, "
            f"{pickup['interval_ms']:g} ms apart; pickup is the handler's `time.time()` at "
            "start minus the creator's `time.time()` right after its commit returned."
        )
    lines += [
        "- Raw figures: `bench/results/engine.json`.",
        END_MARKER,
    ]
    return "\n".join(lines)


DOC_HEADER = """# Benchmarks

Figures measured by the harnesses in `bench/`. Each section between markers is
regenerated by its harness; re-run the command shown to refresh it.
"""


def update_docs(path: Path, section: str) -> None:
    """Replace the engine section of ``path`` (or append it, or create the file)."""
    update_section(path, START_MARKER, END_MARKER, section)


def markers(name: str) -> tuple[str, str]:
    """The comments around the section a harness regenerates in docs/benchmarks.md."""
    return f"<!-- {name}:start -->", f"<!-- {name}:end -->"


def update_section(path: Path, start: str, end: str, section: str) -> None:
    """Put ``section`` between the ``start`` and ``end`` markers of ``path`` (adding the
    markers when ``section`` lacks them); append it when the file has none."""
    if not section.startswith(start):
        section = f"{start}\n{section}\n{end}"
    current = path.read_text() if path.exists() else DOC_HEADER
    first, last = current.find(start), current.find(end)
    if first != -1 and last > first:
        updated = current[:first] + section + current[last + len(end) :]
    else:
        updated = current.rstrip("\n") + "\n\n" + section + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(updated)


def run_harness(
    name: str,
    argv: list[str],
    args: argparse.Namespace,
    measure: Callable[[argparse.Namespace], Coroutine[Any, Any, dict[str, Any]]],
    draw: Callable[[dict[str, Any], Path], object],
    render: Callable[[dict[str, Any]], str],
    section: str | None = None,
) -> None:
    """Measure, then write one harness's JSON (``args.output``), its plots beside it and
    its section of docs/benchmarks.md (unless ``args.no_docs``)."""
    command = shlex.join([".venv/bin/python", "-m", f"bench.{name}", *argv])
    try:
        results = asyncio.run(measure(args))
    except (UnsafeDatabase, RuntimeError, asyncpg.PostgresError) as exc:
        sys.exit(f"bench.{name}: {exc}")
    results["command"] = command
    write_json(args.output, results)
    draw(results, args.output.parent)
    if not args.no_docs:
        start, end = markers(section or name)
        update_section(ROOT / "docs/benchmarks.md", start, end, render(results))
