"""Run dynamics from a bank: how bands fill over turns, how deep lineages go, which way they move.

The yield experiment says how many problems a budget buys; this says how the teacher got them.
Band fill over teacher calls shows whether a band starves; outcomes by lineage turn show what
later turns contribute; lineage depth and the easier/harder split show whether stepping stones
happen at all, and "moved as asked" checks that a `harder` variant really has a lower pass rate
than the stone before it (and `easier` a higher one).

    python -m stepstones.evals.dynamics --bank DIR/bank.sqlite [--run RUN_ID] \
        [--out stepstones-out/experiments/dynamics]

It writes to scratch by default; pass `--out docs/experiments/dynamics` to replace the committed
figures.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from stepstones.reporting import plots
from stepstones.reporting.analysis import (
    DynamicsError,
    directions,
    lineage_depths,
    ordered_turns,
    outcomes_by_turn,
    plot_band_fill,
    plot_lineages,
    plot_outcomes,
    resolve_run,
    run_bands,
)
from stepstones.reporting.machine import machine
from stepstones.tools.store import Bank


def analyse(bank: Bank, run_id: str, out: Path) -> dict[str, Any]:
    """Write the dynamics tables (md, csv, json) and figures of one run into `out`."""
    bands = run_bands(bank, run_id)
    names = [b.name for b in bands]
    turns = ordered_turns(bank, run_id)
    if not turns:
        raise DynamicsError(f"run {run_id} has no turns yet")
    by_turn = outcomes_by_turn(turns, names)
    depths = lineage_depths(turns)
    dirs = directions(turns)
    meta = {
        "run_id": run_id,
        "bank": str(bank.path),
        "machine": machine(),
        "quotas": {b.name: b.quota for b in bands},
    }
    plots.write_table(
        by_turn, out / "turns", title=f"Outcome by lineage turn (run {run_id})", extra=meta
    )
    plots.write_table(depths, out / "lineages", title=f"Lineage depth (run {run_id})", extra=meta)
    plots.write_table(
        dirs,
        out / "directions",
        title=f"Directions (run {run_id})",
        extra=meta,
        note="moved_as_asked: a valid harder stone has a lower pass rate than "
        "the previous valid stone of its lineage (easier: higher).",
    )
    plot_band_fill(turns, bands, out / "band_fill.png")
    plot_outcomes(by_turn, names, out / "turns.png")
    plot_lineages(depths, dirs, out / "lineages.png")
    return {"turns": by_turn, "lineages": depths, "directions": dirs, **meta}


def build_parser() -> argparse.ArgumentParser:
    """The command line, apart from `main` so a test can check its defaults without a run."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bank", type=Path, required=True, help="a run's bank.sqlite")
    ap.add_argument("--run", dest="run_id", help="run id (default: the newest run)")
    ap.add_argument(
        "--out",
        type=Path,
        default=Path("stepstones-out/experiments/dynamics"),
        help="where to write (scratch by default; docs/experiments/dynamics holds "
        "the committed figures)",
    )
    return ap


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit code (2 for a bad bank or run)."""
    args = build_parser().parse_args(argv)
    if not args.bank.is_file():
        print(f"error: no bank at {args.bank}", file=sys.stderr)
        return 2
    bank = Bank(args.bank)
    try:
        result = analyse(bank, resolve_run(bank, args.run_id), args.out)
    except DynamicsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        bank.close()
    for name in ("turns", "lineages", "directions"):
        print((args.out / f"{name}.md").read_text())
    print(f"machine: {result['machine']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
