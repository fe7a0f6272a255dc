"""The benchmark harnesses' own logic: where sections land in docs/benchmarks.md, how a
run's completions become a timeline, and how the engine goal is judged."""

from __future__ import annotations

from pathlib import Path

from bench import report
from bench.e2e import _timeline
from bench.peer_systems import progress_sql, span_sql
from bench.peers import _goal


def test_a_section_replaces_only_its_own_markers(tmp_path: Path) -> None:
    doc = tmp_path / "benchmarks.md"
    doc.write_text(
        "# Benchmarks\n\n<!-- peers:start -->\nold peers\n<!-- peers:end -->\n\n"
        "<!-- http:start -->\nold http\n<!-- http:end -->\n"
    )
    start, end = report.markers("peers")
    report.update_section(doc, start, end, "new peers")
    text = doc.read_text()
    assert "<!-- peers:start -->\nnew peers\n<!-- peers:end -->" in text
    assert "old peers" not in text
    assert "old http" in text


def test_a_section_without_markers_in_the_file_is_appended(tmp_path: Path) -> None:
    doc = tmp_path / "benchmarks.md"
    doc.write_text("# Benchmarks\n")
    start, end = report.markers("e2e")
    report.update_section(doc, start, end, "figures")
    assert doc.read_text().endswith("<!-- e2e:start -->\nfigures\n<!-- e2e:end -->\n")


def test_timeline_counts_completions_by_half_second() -> None:
    points = [(0.0, 0.2), (0.0, 0.4), (0.1, 0.9), (0.1, 1.6)]
    assert _timeline(points) == [[0.0, 0], [0.5, 2], [1.0, 3], [1.5, 3], [2.0, 4]]


def _row(engine: str, setup: str, rate: float) -> dict[str, object]:
    return {"engine": engine, "setup": setup, "per_second": rate}


def test_engine_goal_is_not_met_below_pgqueuer_default() -> None:
    rows = [
        _row("opsapi", "concurrency 10", 3000.0),
        _row("opsapi", "concurrency 100", 4500.0),
        _row("pgqueuer", "default batching", 6000.0),
    ]
    verdict = _goal(rows)
    assert verdict.startswith("**not met**")
    assert "concurrency 100: 4,500/s (75%)" in verdict
    assert "concurrency 10: 3,000/s (50%)" in verdict


def test_engine_goal_is_met_at_or_above_pgqueuer_default() -> None:
    rows = [_row("opsapi", "concurrency 10", 6100.0), _row("pgqueuer", "default batching", 6000.0)]
    assert _goal(rows).startswith("met")


def test_peer_statements_count_and_time_what_the_peer_records() -> None:
    sql = progress_sql("pgqueuer_log", "successful", ("exception", "canceled"))
    assert "status = 'successful'" in sql
    assert "IN ('exception', 'canceled')" in sql
    assert span_sql("procrastinate_events", "at", "type = 'succeeded'") == (
        "SELECT extract(epoch FROM max(at) - min(at)) FROM procrastinate_events"
        " WHERE type = 'succeeded'"
    )
