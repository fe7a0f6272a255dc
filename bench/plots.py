"""PNG plots of benchmark results (matplotlib, from the ``bench`` extra).

Each harness draws its figures from the JSON it has just written, so a plot always
shows the run its table shows. matplotlib is imported when a plot is drawn, with the
non-interactive Agg backend: no display is needed.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

ENGINE_COLOURS = {
    "opsapi": "#1f77b4",
    "procrastinate": "#ff7f0e",
    "pgqueuer": "#2ca02c",
    "floor": "#7f7f7f",
}
DPI = 110


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def colour(name: str) -> str:
    """The colour of an engine or app, the same in every plot."""
    return ENGINE_COLOURS.get(name.split()[0], "#9467bd")


def horizontal_bars(
    path: Path,
    *,
    title: str,
    labels: Sequence[str],
    values: Sequence[float],
    colours: Sequence[str],
    xlabel: str,
    footnote: str,
) -> None:
    """One bar per measured setup, its value written at the end of the bar."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(labels) + 1.6))
    positions = range(len(labels))
    ax.barh(list(positions), values, color=colours)
    ax.set_yticks(list(positions), labels)
    ax.invert_yaxis()
    for y, value in zip(positions, values, strict=True):
        ax.text(value, y, f" {value:,.0f}", va="center", fontsize=8)
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    ax.margins(x=0.15)
    _finish(fig, path, footnote)


def grouped_bars(
    path: Path,
    *,
    title: str,
    groups: Sequence[str],
    series: dict[str, Sequence[float]],
    ylabel: str,
    footnote: str,
) -> None:
    """For each group (a setup), one bar per series (e.g. p50 and p99)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(8.0, 1.2 * len(groups) + 2), 4.5))
    width = 0.8 / max(len(series), 1)
    for index, (name, values) in enumerate(series.items()):
        xs = [g + index * width for g in range(len(groups))]
        bars = ax.bar(xs, values, width, label=name, color=ENGINE_COLOURS.get(name))
        ax.bar_label(bars, fmt="%.1f", fontsize=7)
    ax.set_xticks([g + width * (len(series) - 1) / 2 for g in range(len(groups))], groups)
    ax.tick_params(axis="x", labelsize=8)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend()
    _finish(fig, path, footnote)


def lines(
    path: Path,
    *,
    title: str,
    series: dict[str, tuple[Sequence[float], Sequence[float]]],
    xlabel: str,
    ylabel: str,
    footnote: str,
) -> None:
    """One line per series of (x, y) points, e.g. operations completed over time."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for name, (xs, ys) in series.items():
        ax.plot(xs, ys, label=name)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    _finish(fig, path, footnote)


def _finish(fig: Any, path: Path, footnote: str) -> None:
    fig.text(0.01, 0.005, footnote, fontsize=7, color="#555555", va="bottom")
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI)
    _pyplot().close(fig)


def machine_note(machine: dict[str, Any]) -> str:
    """The line under every plot: what it was measured on, and how busy that was."""
    load = machine.get("load_average") or ["?"]
    return (
        f"{machine['nproc']} cores ({machine['cpu']}), {machine.get('memory_gib', '?')} GiB, "
        f"load average before {load[0]}, commit {machine.get('commit', '?')}, "
        f"PostgreSQL {machine.get('postgresql', '?')}"
    )
