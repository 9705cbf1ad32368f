"""Shared output helpers for experiments and reports: figures and tables.

Every experiment writes the same three things: a table (Markdown for people, CSV and JSON for
machines), a PNG figure, and the machine the numbers came from. Keeping the helpers here makes
all figures look alike and keeps matplotlib on the headless Agg backend, chosen before pyplot is
imported, so experiments run on servers and in CI without a display.
"""

from __future__ import annotations

import base64
import csv
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

BAND_COLOURS: dict[str, str] = {
    "hard": "#c0392b",
    "medium": "#e67e22",
    "easy": "#27ae60",
    "too_hard": "#7f8c8d",
    "too_easy": "#bdc3c7",
    "discarded": "#34495e",
    "exhausted": "#a0826d",
    "unmeasured": "#8e44ad",
}
"""One colour per band (and per outcome outside the bands), shared by every figure."""

Row = Mapping[str, Any]


def colour(name: str, index: int = 0) -> str:
    """The band's colour, else matplotlib's default cycle colour number `index`."""
    return BAND_COLOURS.get(name, f"C{index % 10}")


def fmt(value: Any, digits: int = 3) -> str:
    """A table cell: floats rounded, None as an empty cell, everything else as str."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def markdown_table(rows: Sequence[Row], columns: Sequence[str] | None = None) -> str:
    """A GitHub Markdown table of `rows` (the columns of the first row unless given)."""
    if not rows:
        return "_(no rows)_\n"
    cols = list(columns or rows[0].keys())
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in rows:
        cells = [fmt(row.get(c)).replace("|", "\\|").replace("\n", " ") for c in cols]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_table(
    rows: Sequence[Row],
    stem: Path,
    *,
    title: str = "",
    note: str = "",
    extra: Mapping[str, Any] | None = None,
    display: Sequence[Row] | None = None,
) -> list[Path]:
    """Write `stem`.md, `stem`.csv and `stem`.json (the JSON also holds `extra`); return paths.

    `display` replaces `rows` in the Markdown only, for cells people read better combined
    (a mean with its spread) while machines get one number per column.
    """
    stem.parent.mkdir(parents=True, exist_ok=True)
    md = (
        (f"# {title}\n\n" if title else "")
        + markdown_table(display or rows)
        + (f"\n{note}\n" if note else "")
    )
    paths = [stem.with_suffix(".md"), stem.with_suffix(".csv"), stem.with_suffix(".json")]
    paths[0].write_text(md)
    cols = list(rows[0].keys()) if rows else []
    with paths[1].open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=cols, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    paths[2].write_text(
        json.dumps({"rows": list(rows), **(extra or {})}, indent=2, default=str) + "\n"
    )
    return paths


def new_figure(width: float = 7.0, height: float = 4.0) -> tuple[Figure, Any]:
    """A figure with one axes, sized for a report page."""
    fig, ax = plt.subplots(figsize=(width, height), dpi=110)
    return fig, ax


def panels(n: int, width: float = 9.0, height: float = 3.6) -> tuple[Figure, list[Any]]:
    """A figure with `n` axes side by side."""
    fig, axes = plt.subplots(1, n, figsize=(width, height), dpi=110, squeeze=False)
    return fig, list(axes[0])


def count_axis(ax: Any) -> None:
    """Whole-number ticks on a y axis of counts: 0.25 of a lineage reads as a bug."""
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))


def legend_outside(ax: Any) -> None:
    """The legend right of the axes, where it cannot cover a bar (save() makes room for it)."""
    ax.legend(frameon=False, fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))


def save(fig: Figure, path: Path) -> Path:
    """Save `fig` as a PNG at `path` and free it (long experiments draw many figures)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, format="png")
    plt.close(fig)
    return path


def png_base64(path: Path) -> str:
    """A `data:` URI of a PNG file, for HTML pages that must stand alone."""
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def grouped_bars(
    groups: Sequence[str],
    series: Mapping[str, Sequence[float]],
    *,
    title: str,
    ylabel: str,
    errors: Mapping[str, Sequence[float]] | None = None,
    points: Mapping[str, Sequence[Sequence[float]]] | None = None,
) -> Figure:
    """Bars for each series inside each group, with optional error bars and raw points.

    `points[series][group]` are the individual measurements (e.g. one per random seed), drawn
    over the bars so a reader sees the spread and not only the mean.
    """
    fig, ax = new_figure()
    n = max(1, len(series))
    width = 0.8 / n
    for i, (name, values) in enumerate(series.items()):
        xs = [g + (i - (n - 1) / 2) * width for g in range(len(groups))]
        err = errors.get(name) if errors else None
        ax.bar(xs, values, width, label=name, color=f"C{i}", yerr=err, capsize=3, alpha=0.85)
        for x, pts in zip(xs, (points or {}).get(name, []), strict=False):
            ax.scatter([x] * len(pts), pts, color="black", s=10, zorder=3)
    ax.set_xticks(range(len(groups)), list(groups))
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(frameon=False)
    ax.grid(axis="y", alpha=0.3)
    return fig


def stacked_bars(
    groups: Sequence[str],
    stacks: Mapping[str, Sequence[float]],
    *,
    title: str,
    ylabel: str,
    xlabel: str = "",
) -> Figure:
    """One bar per group, stacked by category (coloured by band where the name is a band)."""
    fig, ax = new_figure()
    bottom = [0.0] * len(groups)
    for i, (name, values) in enumerate(stacks.items()):
        ax.bar(range(len(groups)), values, bottom=bottom, label=name, color=colour(name, i))
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    ax.set_xticks(range(len(groups)), list(groups))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(frameon=False, fontsize="small")
    ax.grid(axis="y", alpha=0.3)
    return fig


def hbars(labels: Sequence[str], values: Sequence[float], *, title: str, xlabel: str) -> Figure:
    """Horizontal bars, largest at the top (counts by reason, tokens by agent)."""
    fig, ax = new_figure(7.0, max(2.0, 0.45 * len(labels) + 1.2))
    order = sorted(range(len(labels)), key=lambda i: values[i])
    ax.barh([labels[i] for i in order], [values[i] for i in order], color="C0")
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    ax.grid(axis="x", alpha=0.3)
    return fig


def step_lines(
    series: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    *,
    title: str,
    xlabel: str,
    ylabel: str,
    hlines: Mapping[str, float] | None = None,
) -> Figure:
    """Cumulative curves (x, y) per series, with dashed targets (e.g. a band's quota)."""
    fig, ax = new_figure()
    for i, (name, (xs, ys)) in enumerate(series.items()):
        ax.step(xs, ys, where="post", label=name, color=colour(name, i))
    for i, (name, y) in enumerate((hlines or {}).items()):
        ax.axhline(y, linestyle="--", linewidth=0.8, color=colour(name, i))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(frameon=False, fontsize="small")
    ax.grid(alpha=0.3)
    return fig
