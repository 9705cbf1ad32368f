"""Run analysis shared by `stepstones report` and the dynamics experiment: band fill over teacher
calls, outcomes by lineage turn, lineage depth, and whether stepping stones moved the way the
teacher was asked (a `harder` stone has a lower pass rate than the stone before it).
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from stepstones.graphs.bands import TOO_EASY, TOO_HARD, Band
from stepstones.graphs.context import RunContext
from stepstones.graphs.report import turn_ending
from stepstones.reporting import plots
from stepstones.tools.schema import TurnOutcome
from stepstones.tools.store import Bank, RunNotFound

OUTSIDE = (TOO_EASY, TOO_HARD, "discarded", "exhausted", "unmeasured")
"""Turn outcomes that fill no band: every student passed, none did, or no valid problem
(every draft rejected, no variant left to write, or no sample judged: graphs/report.py)."""


class DynamicsError(ValueError):
    """The bank or run cannot be read; the message is one line for the user."""


class ProblemRates(BaseModel):
    """What the pass-rate plots and tables read of a problem; read from a bank record with
    everything else in it skipped (a report of 100k problems validates no tests or code)."""

    model_config = ConfigDict(extra="ignore")

    id: str
    band: str | None = None
    pass_rate: float | None = None
    pass_rates: dict[str, float] = Field(default_factory=dict)


def run_bands(bank: Bank, run_id: str) -> list[Band]:
    """The bands (with quotas) the run was configured with."""
    row = bank.get_run(run_id)
    if row is None:
        raise DynamicsError(f"unknown run {run_id} in {bank.path}")
    try:
        return RunContext.model_validate(json.loads(row["config"] or "{}")).bands
    except ValueError:
        return RunContext().bands


def resolve_run(bank: Bank, run_id: str | None) -> str:
    """`run_id`, or the bank's newest run; DynamicsError when there is none."""
    try:
        return bank.resolve_run(run_id)
    except RunNotFound as exc:
        raise DynamicsError(str(exc)) from None


def ordered_turns(bank: Bank, run_id: str) -> list[TurnOutcome]:
    """Turns in the order their problems reached the bank (a turn without one goes last)."""
    order = {pid: i for i, pid in enumerate(bank.problem_ids(run_id, valid_only=False))}
    turns = bank.turns(run_id)
    return sorted(
        turns, key=lambda t: (order.get(t.problem_id or "", len(order)), t.lineage_id, t.turn)
    )


def outcome(t: TurnOutcome) -> str:
    """A turn's band or too_easy / too_hard; without a valid problem, how it ended
    (`discarded`, `exhausted` or `unmeasured`)."""
    return (t.band or "unbanded") if t.valid else turn_ending(t)


def outcomes_by_turn(
    turns: Sequence[TurnOutcome], band_names: Sequence[str]
) -> list[dict[str, Any]]:
    """Per lineage turn index: turns, teacher calls and how many landed in each band or not."""
    per: dict[int, Counter[str]] = defaultdict(Counter)
    calls: Counter[int] = Counter()
    for t in turns:
        per[t.turn][outcome(t)] += 1
        calls[t.turn] += t.teacher_calls
    rows = []
    for turn in sorted(per):
        c = per[turn]
        banded = sum(c[b] for b in band_names)
        rows.append(
            {
                "turn": turn,
                "turns": sum(c.values()),
                "teacher_calls": calls[turn],
                **{name: c[name] for name in (*band_names, *OUTSIDE)},
                "banded_per_call": banded / calls[turn] if calls[turn] else 0.0,
            }
        )
    return rows


def band_fill(
    turns: Sequence[TurnOutcome], band_names: Sequence[str]
) -> dict[str, tuple[list[float], list[float]]]:
    """Cumulative problems per band against cumulative teacher calls, in bank order."""
    series: dict[str, tuple[list[float], list[float]]] = {b: ([0.0], [0.0]) for b in band_names}
    calls, counts = 0, Counter[str]()
    for t in turns:
        calls += t.teacher_calls
        band = outcome(t)
        if band in series:
            counts[band] += 1
            xs, ys = series[band]
            xs.append(calls)
            ys.append(counts[band])
    for xs, ys in series.values():
        xs.append(calls)
        ys.append(ys[-1])
    return series


def lineage_depths(turns: Sequence[TurnOutcome]) -> list[dict[str, Any]]:
    """How many lineages have 0, 1, 2, ... valid stones (and how many turns they took)."""
    stones: Counter[str] = Counter()
    spent: Counter[str] = Counter()
    for t in turns:
        stones[t.lineage_id] += int(t.valid)
        spent[t.lineage_id] += 1
    hist: dict[int, list[str]] = defaultdict(list)
    for lineage in spent:
        hist[stones[lineage]].append(lineage)
    return [
        {
            "valid_stones": depth,
            "lineages": len(ids),
            "mean_turns": sum(spent[i] for i in ids) / len(ids),
        }
        for depth, ids in sorted(hist.items())
    ]


def directions(turns: Sequence[TurnOutcome]) -> list[dict[str, Any]]:
    """Per direction: turns, valid problems, and whether the pass rate moved the asked way.

    A valid `harder` stone "moved as asked" when its pass rate is below that of the previous
    valid stone of its lineage (`easier`: above); equal rates count as not moved.
    """
    by_lineage: dict[str, list[TurnOutcome]] = defaultdict(list)
    for t in turns:
        by_lineage[t.lineage_id].append(t)
    stats: dict[str, dict[str, Any]] = {
        d: {
            "direction": d,
            "turns": 0,
            "valid": 0,
            "compared": 0,
            "moved_as_asked": 0,
            "mean_delta_pass_rate": 0.0,
        }
        for d in ("seed", "easier", "harder")
    }
    for chain in by_lineage.values():
        previous: float | None = None
        for t in sorted(chain, key=lambda x: x.turn):
            s = stats[t.direction]
            s["turns"] += 1
            if not t.valid or t.pass_rate is None:
                continue
            s["valid"] += 1
            if previous is not None and t.direction != "seed":
                delta = t.pass_rate - previous
                s["compared"] += 1
                s["mean_delta_pass_rate"] += delta
                s["moved_as_asked"] += int(delta < 0 if t.direction == "harder" else delta > 0)
            previous = t.pass_rate
    for s in stats.values():
        if s["compared"]:
            s["mean_delta_pass_rate"] /= s["compared"]
        s["moved_as_asked_rate"] = s["moved_as_asked"] / s["compared"] if s["compared"] else None
    return list(stats.values())


def plot_band_fill(turns: Sequence[TurnOutcome], bands: Sequence[Band], path: Path) -> Path:
    """Cumulative band fill against teacher calls, quotas dashed."""
    fig = plots.step_lines(
        band_fill(turns, [b.name for b in bands]),
        hlines={b.name: b.quota for b in bands},
        title="Band fill over teacher calls (dashed: quota)",
        xlabel="teacher calls (cumulative)",
        ylabel="problems in band",
    )
    return plots.save(fig, path)


def plot_outcomes(rows: list[dict[str, Any]], band_names: Sequence[str], path: Path) -> Path:
    """Where each lineage turn's problems landed, stacked by band."""
    fig = plots.stacked_bars(
        [str(r["turn"]) for r in rows],
        {k: [r[k] for r in rows] for k in (*band_names, *OUTSIDE)},
        title="Outcome of each lineage turn",
        ylabel="turns",
        xlabel="turn within the lineage (0 = seed problem)",
    )
    plots.legend_outside(fig.axes[0])
    return plots.save(fig, path)


def plot_lineages(depths: list[dict[str, Any]], dirs: list[dict[str, Any]], path: Path) -> Path:
    """Two panels: lineages by number of valid stones; valid stones by direction."""
    fig, (left, right) = plots.panels(2)
    left.bar([str(d["valid_stones"]) for d in depths], [d["lineages"] for d in depths], color="C0")
    left.set_xlabel("valid stepping stones in the lineage")
    left.set_ylabel("lineages")
    left.set_title("Lineage depth")
    names = [d["direction"] for d in dirs]
    right.bar(names, [d["valid"] for d in dirs], color=["C7", "C2", "C3"])
    for i, d in enumerate(dirs):
        if d["moved_as_asked_rate"] is not None:
            right.annotate(
                f"{d['moved_as_asked_rate']:.0%} moved\nas asked",
                (i, d["valid"]),
                ha="center",
                va="bottom",
                fontsize="small",
            )
    right.set_ylabel("valid problems")
    right.set_title("Direction of each stone")
    for ax in (left, right):
        ax.grid(axis="y", alpha=0.3)
        plots.count_axis(ax)
    return plots.save(fig, path)


def student_rates(
    problems: Sequence[ProblemRates], band_names: Sequence[str]
) -> list[dict[str, Any]]:
    """Per student: problems measured, mean pass rate over them, and the mean in each band."""
    per: dict[str, list[tuple[str | None, float]]] = defaultdict(list)
    for p in problems:
        for student, rate in p.pass_rates.items():
            per[student].append((p.band, rate))
    rows = []
    for student in sorted(per):
        rates = per[student]
        row: dict[str, Any] = {
            "student": student,
            "problems": len(rates),
            "mean pass rate": sum(r for _, r in rates) / len(rates),
        }
        for name in band_names:
            inside = [r for band, r in rates if band == name]
            row[name] = sum(inside) / len(inside) if inside else None
        rows.append(row)
    return rows


def plot_pass_rates(problems: Sequence[ProblemRates], bands: Sequence[Band], path: Path) -> Path:
    """One histogram per band of its problems' pass rates, over the band's interval."""
    fig, axes = plots.panels(len(bands), width=3.2 * len(bands), height=3.0)
    for i, (ax, band) in enumerate(zip(axes, bands, strict=True)):
        rates = [p.pass_rate for p in problems if p.band == band.name and p.pass_rate is not None]
        ax.hist(
            rates,
            bins=8,
            range=(band.lo, band.hi),
            color=plots.colour(band.name, i),
            edgecolor="white",
        )
        ax.set_xlim(band.lo, band.hi)
        ax.set_title(f"{band.name} ({len(rates)})")
        ax.set_xlabel("pass rate")
        ax.grid(axis="y", alpha=0.3)
        plots.count_axis(ax)
    axes[0].set_ylabel("problems")
    fig.suptitle("Pass rates within each band")
    return plots.save(fig, path)


def plot_students(rows: list[dict[str, Any]], band_names: Sequence[str], path: Path) -> Path:
    """Each student's mean pass rate per band (bars grouped by band)."""
    fig = plots.grouped_bars(
        list(band_names),
        {r["student"]: [r[b] if r[b] is not None else 0.0 for b in band_names] for r in rows},
        title="Mean pass rate per student and band",
        ylabel="pass rate",
    )
    # Inside, the legend sat on the tallest bars: a pass rate of 1.0 reaches the top.
    plots.legend_outside(fig.axes[0])
    return plots.save(fig, path)
