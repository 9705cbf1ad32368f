"""Yield experiment: does multi-turn refinement buy more banded problems per teacher call?

The paper's claim is that letting the teacher write easier/harder variants of a task from the
students' results (stepping stones) uses teacher calls better than drawing a fresh seed every
time. This runs the same configuration twice per random seed, once with `multi_turn=False`
(every seed gets one turn: the ablation) and once with `multi_turn=True`, with the same teacher,
students, seeds and teacher-call budget, and reports banded problems per teacher call, in total
and per band, as the mean and spread over random seeds. The budget should bind (quotas larger
than a budget can fill) so both modes spend the same number of calls; calls actually used are
reported because in-flight lineages finish after the budget is reached.

Beside banded problems per call it reports the paper's own measure, the fraction of viable
problems after filtering: valid problems whose pass rate is inside the keep range (0.01 <= p
<= 0.97, what the export keeps) per teacher call. With `--environments a,b` the experiment
runs once per environment (every lineage in that one), each into its own subfolder.

    python -m stepstones.evals.yield_experiment [--out stepstones-out/experiments/yield] \
        [--seeds 0,1,2] [--quota 20] [--budget 80] [--config FILE] [--environments ENV,ENV]

The defaults are the committed run's setup (docs/experiments.md, section 1), so a plain rerun is
comparable with it. It writes to scratch by default; pass `--out docs/experiments/yield` to
replace the committed figures.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from stepstones.graphs.bands import TOO_EASY, TOO_HARD
from stepstones.graphs.context import ConfigError, RunContext, load_context
from stepstones.reporting import plots
from stepstones.reporting.machine import machine
from stepstones.runner import run_pipeline
from stepstones.tools.export import KEEP_RANGE
from stepstones.tools.store import Bank

MODES: dict[str, bool] = {"single-turn": False, "multi-turn": True}
"""Mode label -> RunContext.multi_turn; the only field that differs between the two arms."""


def arm_context(
    base: RunContext, *, multi_turn: bool, seed: int, quota: int | None, budget: int | None
) -> RunContext:
    """`base` with one arm's settings: everything else stays identical between arms."""
    update: dict[str, Any] = {"multi_turn": multi_turn, "seed": seed}
    if quota is not None:
        update["bands"] = [b.model_copy(update={"quota": quota}) for b in base.bands]
    if budget is not None:
        update["budget"] = base.budget.model_copy(update={"max_teacher_calls": budget})
    return base.model_copy(update=update)


def viable_count(pass_rates: Sequence[float | None]) -> int:
    """Valid problems the paper's filter keeps: 0.01 <= p <= 0.97 (the export's keep range)."""
    lo, hi = KEEP_RANGE
    return sum(p is not None and lo <= p <= hi for p in pass_rates)


def run_metrics(
    report: dict[str, Any], wall_s: float, pass_rates: Sequence[float | None] = ()
) -> dict[str, Any]:
    """One run's numbers: problems per band, per teacher call used, and how the run ended;
    `pass_rates` (of the run's valid problems, from its bank) give the viable fraction."""
    calls = int(report.get("teacher_calls", 0))
    viable = viable_count(pass_rates)
    bands = report.get("bands", {})
    # Every problem that landed in a band, the surplus past its quota too (tools/quotas.py).
    counts = {name: int(b["count"]) + int(b.get("surplus", 0)) for name, b in bands.items()}
    banded = sum(counts.values())
    row: dict[str, Any] = {
        "teacher_calls": calls,
        "valid": int(report.get("problems", {}).get("valid", 0)),
        "banded": banded,
        "quota_slots_filled": sum(min(c, int(bands[n]["quota"])) for n, c in counts.items()),
        "bands_filled": sum(bool(b["filled"]) for b in bands.values()),
        "too_easy": int(report.get("outside_bands", {}).get(TOO_EASY, 0)),
        "too_hard": int(report.get("outside_bands", {}).get(TOO_HARD, 0)),
        "discarded": sum(
            int(report.get("problems", {}).get(k, 0))
            for k in ("discarded", "exhausted", "unmeasured")
        ),
        "stop_reason": report.get("stop_reason"),
        "wall_s": round(wall_s, 1),
        "banded_per_call": banded / calls if calls else 0.0,
        "valid_per_call": int(report.get("problems", {}).get("valid", 0)) / calls if calls else 0.0,
        "viable": viable,
        "viable_per_call": viable / calls if calls else 0.0,
    }
    for name, count in counts.items():
        row[name] = count
        row[f"{name}_per_call"] = count / calls if calls else 0.0
    return row


def spread(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    mean = statistics.fmean(values) if values else 0.0
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return mean, sd


async def run_arms(
    base: RunContext,
    seeds: Sequence[int],
    *,
    quota: int | None,
    budget: int | None,
    runs_dir: Path,
    log: bool = True,
) -> list[dict[str, Any]]:
    """Every (seed, mode) run, one after another (runs compete for the same cores)."""
    rows = []
    for seed in seeds:
        for mode, multi in MODES.items():
            ctx = arm_context(base, multi_turn=multi, seed=seed, quota=quota, budget=budget)
            start = time.monotonic()
            result = await run_pipeline(
                ctx, runs_dir / f"{mode}-seed{seed}", run_id=f"yield-{mode}-s{seed}"
            )
            bank = Bank(result.out / "bank.sqlite")
            try:
                rates = [p.pass_rate for p in bank.problems(result.run_id)]
            finally:
                bank.close()
            row = {
                "mode": mode,
                "seed": seed,
                **run_metrics(result.report, time.monotonic() - start, rates),
            }
            rows.append(row)
            if log:
                print(
                    f"  seed {seed} {mode:<11} calls {row['teacher_calls']:>4}  banded "
                    f"{row['banded']:>3}  per call {row['banded_per_call']:.3f}  "
                    f"({row['stop_reason']}, {row['wall_s']} s)",
                    file=sys.stderr,
                )
    return rows


def summarise(rows: list[dict[str, Any]], band_names: Sequence[str]) -> list[dict[str, Any]]:
    """Per mode: mean and sample sd over random seeds of every per-call metric."""
    metrics = [
        "banded_per_call",
        *(f"{b}_per_call" for b in band_names),
        "valid_per_call",
        "viable_per_call",
        "teacher_calls",
        "banded",
        "quota_slots_filled",
        "bands_filled",
    ]
    out = []
    for mode in MODES:
        arm = [r for r in rows if r["mode"] == mode]
        summary: dict[str, Any] = {"mode": mode, "seeds": len(arm)}
        for m in metrics:
            mean, sd = spread([float(r.get(m, 0)) for r in arm])
            summary[f"{m}_mean"], summary[f"{m}_sd"] = mean, sd
        summary["stop_reasons"] = ",".join(sorted({str(r["stop_reason"]) for r in arm}))
        out.append(summary)
    return out


def display_rows(summary: list[dict[str, Any]], band_names: Sequence[str]) -> list[dict[str, Any]]:
    """The summary as people read it: `mean ± sd` cells."""

    def pm(row: dict[str, Any], m: str, digits: int = 3) -> str:
        return f"{row[f'{m}_mean']:.{digits}f} ± {row[f'{m}_sd']:.{digits}f}"

    return [
        {
            "mode": r["mode"],
            "seeds": r["seeds"],
            "banded / call": pm(r, "banded_per_call"),
            **{f"{b} / call": pm(r, f"{b}_per_call") for b in band_names},
            "valid / call": pm(r, "valid_per_call"),
            "viable (0.01-0.97) / call": pm(r, "viable_per_call"),
            "teacher calls used": pm(r, "teacher_calls", 1),
            "quota slots filled": pm(r, "quota_slots_filled", 1),
            "bands filled": pm(r, "bands_filled", 1),
            "stop": r["stop_reasons"],
        }
        for r in summary
    ]


def plot(rows: list[dict[str, Any]], band_names: Sequence[str], path: Path, title: str) -> Path:
    """Banded problems per teacher call, total and per band, per mode (bars: mean; dots: seeds)."""
    groups = ["all bands", *band_names]
    keys = ["banded_per_call", *(f"{b}_per_call" for b in band_names)]
    series, errors, points = {}, {}, {}
    for mode in MODES:
        arm = [r for r in rows if r["mode"] == mode]
        stats = [spread([r.get(k, 0.0) for r in arm]) for k in keys]
        series[mode] = [m for m, _ in stats]
        errors[mode] = [s for _, s in stats]
        points[mode] = [[r.get(k, 0.0) for r in arm] for k in keys]
    fig = plots.grouped_bars(
        groups,
        series,
        errors=errors,
        points=points,
        title=title,
        ylabel="banded problems per teacher call",
    )
    return plots.save(fig, path)


def run_experiment(
    base: RunContext,
    out: Path,
    seeds: Sequence[int],
    *,
    quota: int | None,
    budget: int | None,
    keep_runs: Path | None = None,
) -> dict[str, Any]:
    """Run both arms for every seed and write yield.{md,csv,json}, runs.{...} and yield.png."""
    band_names = [b.name for b in base.bands]
    with tempfile.TemporaryDirectory(prefix="stepstones-yield-") as tmp:
        runs_dir = keep_runs or Path(tmp)
        rows = asyncio.run(run_arms(base, seeds, quota=quota, budget=budget, runs_dir=runs_dir))
    summary = summarise(rows, band_names)
    ctx0 = arm_context(base, multi_turn=True, seed=seeds[0], quota=quota, budget=budget)
    setup: dict[str, Any] = {
        "environments": ctx0.environments,
        "teacher": ctx0.teacher,
        "students": ctx0.students,
        "samples": ctx0.samples,
        "quotas": {b.name: b.quota for b in ctx0.bands},
        "max_teacher_calls": ctx0.budget.max_teacher_calls,
        "max_turns_per_seed": ctx0.budget.max_turns_per_seed,
        "concurrency": ctx0.lineages_in_flight,
        "seeds": list(seeds),
    }
    note = (
        f"Mean ± sample sd over {len(seeds)} random seeds ({', '.join(map(str, seeds))}). "
        f"Environments {setup['environments']}. Teacher {setup['teacher']}, students "
        f"{', '.join(setup['students'])} "
        f"(k={setup['samples']}), quota {setup['quotas']}, budget "
        f"{setup['max_teacher_calls']} teacher calls (lineages in flight finish, so calls "
        "used can exceed it). 'banded' counts every valid problem inside a band, over-quota "
        "ones included; 'quota slots filled' caps each band at its quota."
    )
    meta = {"machine": machine(), "setup": setup, "summary": summary}
    plots.write_table(
        summary,
        out / "yield",
        title="Yield: single-turn vs multi-turn",
        note=note,
        extra=meta,
        display=display_rows(summary, band_names),
    )
    plots.write_table(
        rows,
        out / "runs",
        title="Yield experiment: every run",
        extra={"machine": meta["machine"], "setup": setup},
    )
    plot(
        rows,
        band_names,
        out / "yield.png",
        f"Yield per teacher call ({len(seeds)} seeds, budget {setup['max_teacher_calls']})",
    )
    return {"rows": rows, **meta}


def parse_seeds(text: str) -> list[int]:
    """`0,1,2` -> [0, 1, 2]."""
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise ConfigError(f"--seeds must be comma-separated integers, got {text!r}") from None
    if not seeds:
        raise ConfigError("--seeds needs at least one seed")
    return seeds


def build_parser() -> argparse.ArgumentParser:
    """The command line, apart from `main` so a test can check its defaults without a run."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--out",
        type=Path,
        default=Path("stepstones-out/experiments/yield"),
        help="where to write (scratch by default; docs/experiments/yield holds the "
        "committed figures)",
    )
    ap.add_argument(
        "--environments",
        help="comma-separated: run the experiment once per "
        "environment, each in OUT/ENVIRONMENT (default: the config's mix)",
    )
    ap.add_argument("--seeds", default="0,1,2", help="comma-separated random seeds")
    ap.add_argument("--quota", type=int, default=20, help="problems wanted per band")
    ap.add_argument("--budget", type=int, default=80, help="max teacher calls per run")
    ap.add_argument("--students", help="comma-separated student specs (default: the config's)")
    ap.add_argument("--samples", type=int, help="samples per student (k)")
    ap.add_argument("--config", type=Path, help="TOML/JSON config shared by both arms")
    ap.add_argument("--keep-runs", type=Path, help="keep each run's bank under this folder")
    return ap


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit code (2 for a configuration error)."""
    args = build_parser().parse_args(argv)
    try:
        overrides: dict[str, Any] = {"samples": args.samples}
        if args.students:
            overrides["students"] = [s.strip() for s in args.students.split(",") if s.strip()]
        base = load_context(args.config, overrides)
        seeds = parse_seeds(args.seeds)
        if args.quota < 1 or args.budget < 1:
            raise ConfigError("--quota and --budget must be at least 1")
        envs = (
            [e.strip() for e in args.environments.split(",") if e.strip()]
            if args.environments
            else []
        )
        arms = (
            [(args.out / env, base.model_copy(update={"environments": {env: 1.0}})) for env in envs]
            if envs
            else [(args.out, base)]
        )
        for env in envs:  # every name checked before the first run starts
            RunContext.model_validate({**base.model_dump(), "environments": {env: 1.0}})
        for out, ctx in arms:
            result = run_experiment(
                ctx,
                out,
                seeds,
                quota=args.quota,
                budget=args.budget,
                keep_runs=args.keep_runs / out.name if args.keep_runs else None,
            )
            print((out / "yield.md").read_text())
    except (ConfigError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"machine: {result['machine']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
