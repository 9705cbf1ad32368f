"""`stepstones export`: a run's problems as a verl / TRL-ready dataset with a dataset card."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from stepstones.commands import command_line
from stepstones.tools.export import (
    FORMATS,
    KEEP_RANGE,
    ExportError,
    export_run,
    parse_keep_range,
)
from stepstones.tools.pool import MAX_WORKERS
from stepstones.tools.schedule import DEFAULT_SCHEDULE, SCHEDULES, parse_mix
from stepstones.tools.store import DEFAULT_BANK, Bank

console = Console(stderr=True)


def export(
    out: Annotated[Path, typer.Option(help="Folder to write (data, README.md, export.json).")],
    run_id: Annotated[
        str | None, typer.Option("--run", help="Run id to export (default: the bank's newest run).")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help=f"One of: {', '.join(FORMATS)}.")] = "jsonl",
    bank: Annotated[Path, typer.Option(help="Problem bank (bank.sqlite in a run's --out).")] = (
        DEFAULT_BANK
    ),
    schedule: Annotated[
        str, typer.Option(help=f"Curriculum order: {', '.join(SCHEDULES)}.")
    ] = DEFAULT_SCHEDULE,
    mix: Annotated[
        str | None,
        typer.Option(help="Band ratios for --schedule mix, e.g. hard=0.2,medium=0.5,easy=0.3."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the mixture's shuffles.")] = 0,
    system_prompt: Annotated[
        bool,
        typer.Option(
            "--system-prompt/--no-system-prompt",
            help="Start each prompt with the students' system message, as the run gave it "
            "(leave it out where the trainer adds its own).",
        ),
    ] = True,
    no_decontam: Annotated[
        bool,
        typer.Option("--no-decontam", help="Skip HumanEval decontamination (the card says so)."),
    ] = False,
    keep_range: Annotated[
        str,
        typer.Option(
            help="Pass rates exported, LO,HI inclusive (the paper's filter); the "
            "others stay in the bank."
        ),
    ] = f"{KEEP_RANGE[0]:g},{KEEP_RANGE[1]:g}",
    include_unbanded: Annotated[
        bool,
        typer.Option(
            "--include-unbanded",
            help="Export every pass rate, ignoring --keep-range (p = 0 and p = 1 too).",
        ),
    ] = False,
    include_surplus: Annotated[
        bool,
        typer.Option(
            "--include-surplus",
            help="Also export valid problems that landed in a band already holding its quota "
            "(by default the dataset holds each band's quota).",
        ),
    ] = False,
    force: Annotated[bool, typer.Option(help="Replace --out if it exists.")] = False,
    partial: Annotated[
        bool, typer.Option(help="Export a run that has not finished (marked partial in the card).")
    ] = False,
    workers: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Processes that screen the problems (decontamination, near-duplicate "
            "signatures) and build the rows; 1 does it all in this process. Default: the CPUs "
            f"available, at most {MAX_WORKERS}. The output is the same for any number.",
        ),
    ] = None,
    calls: Annotated[
        bool,
        typer.Option(
            "--calls",
            help="Also write model_calls.jsonl: every model request of the run, with "
            "its messages, replies, tokens, latency and outcome.",
        ),
    ] = False,
) -> None:
    """Export a run's valid problems with tests, reference, band, pass rates and lineage."""
    try:
        if fmt not in FORMATS:
            raise ExportError(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}")
        if schedule not in SCHEDULES:
            raise ExportError(f"unknown schedule {schedule!r}; choose from {', '.join(SCHEDULES)}")
        if mix is not None and schedule != "mix":
            raise ExportError("--mix is only used with --schedule mix")
        if not bank.is_file():
            raise ExportError(f"no bank at {bank} (pass --bank PATH/bank.sqlite)")
        ratios = parse_mix(mix) if mix is not None else None
        kept_range = None if include_unbanded else parse_keep_range(keep_range)
        store = Bank(bank)
        try:
            result = export_run(
                store, out, run_id=run_id, fmt=fmt,
                schedule_name=schedule,
                mix=ratios, seed=seed, system_prompt=system_prompt,
                benchmark=None if no_decontam else "humaneval", force=force,
                keep_range=kept_range,
                partial=partial, calls=calls, command=command_line(),
                include_surplus=include_surplus, workers=workers,
            )  # fmt: skip
        finally:
            store.close()
    except (ExportError, ValueError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    reasons = [e.reason for e in result.excluded]
    bands = ", ".join(f"{b} {n}" for b, n in result.bands.items())
    typer.echo(
        f"run {result.run_id}: {result.rows} rows ({bands}) -> {result.out} "
        f"[{result.format}, {result.schedule}]; excluded {reasons.count('surplus')} past the "
        f"quota, {reasons.count('out_of_range')} "
        f"outside the keep range, {reasons.count('contaminated')} "
        f"contaminated, {reasons.count('duplicate')} duplicates"
        + ("" if result.run_status == "finished" else f"; PARTIAL (run {result.run_status})")
    )


def register(app: typer.Typer) -> None:
    """Add `export` to the CLI."""
    app.command("export")(export)
