"""`stepstones run`: the main job, offline by default, resumable with --resume RUN_ID."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.table import Table

from stepstones.commands import command_line
from stepstones.graphs.context import ConfigError, load_context
from stepstones.graphs.presets import presets_help
from stepstones.integrity import BankMismatch
from stepstones.stops import RunStopped, SignalStop, StorageError, is_storage_error
from stepstones.tools.store import BANK_FILE, DEFAULT_OUT, Bank

if TYPE_CHECKING:  # the runner imports LangGraph (~1 s): --help and a bad config never need it
    from stepstones.runner import Progress, RunResult

console = Console(stderr=True)


def _table(p: Progress) -> Table:
    table = Table(title=f"run {p.run_id}", title_justify="left", min_width=72)
    table.add_column("band")
    table.add_column("problems", justify="right")
    for name, (count, quota) in p.bands.items():
        mark = "[green]✓[/green]" if count >= quota else ""
        table.add_row(name, f"{count}/{quota} {mark}")
    valid = sum(o.valid for o in p.outcomes)
    banded = sum(count for count, _ in p.bands.values())
    rate = f"{banded / p.teacher_calls:.2f}" if p.teacher_calls else "-"
    table.caption = (
        f"turns {len(p.outcomes)} · valid {valid} · teacher calls "
        f"{p.teacher_calls} · yield/call {rate} · lineages "
        f"{len({o.lineage_id for o in p.outcomes})} · tokens {p.tokens}"
    )
    return table


def print_summary(result: RunResult) -> None:
    """A short human summary of a finished run on stdout."""
    r = result.report
    out = Console(soft_wrap=True)
    out.print(f"[bold]run {result.run_id}[/bold] stopped: {result.stop_reason}")
    for name, band in r.get("bands", {}).items():
        over = f" (+{band['surplus']} surplus)" if band.get("surplus") else ""
        out.print(
            f"  {name:<8} {band['count']:>3}/{band['quota']:<3} "
            f"{'filled' if band['filled'] else 'NOT filled'}{over}"
        )
    lin = r.get("lineages", {})
    out.print(
        f"  valid problems {r.get('problems', {}).get('valid', 0)}, teacher calls "
        f"{r.get('teacher_calls', 0)}, yield/call {r.get('yield_per_call', 0)}, "
        f"longest chain {lin.get('max_depth', 0)}, "
        f"chains >=3 stones {lin.get('chains_of_3_or_more', 0)}"
    )
    if r.get("rejections_by_reason"):
        out.print(f"  rejections: {r['rejections_by_reason']}")
    for drop in r.get("dropped_models", []):
        out.print(
            f"  dropped {drop['role']} {escape(drop['model'])} from round {drop['round']}: "
            f"{escape(drop['reason'])}",
            highlight=False,
        )
    for warning in r.get("warnings", []):
        out.print(f"  [yellow]warning:[/yellow] {escape(warning)}", highlight=False)
    out.print(f"  bank: {result.out / 'bank.sqlite'}  report: {result.out / 'report.json'}")


def run(
    config: Annotated[
        Path | None,
        typer.Option(
            "--config", "-c", help="TOML or JSON config file (see README: configuration)."
        ),
    ] = None,
    out: Annotated[
        Path, typer.Option(help="Run directory: bank, checkpoints, report.")
    ] = DEFAULT_OUT,
    seed: Annotated[
        int | None,
        typer.Option(
            help="Random seed. With simulated models the same seed gives the same bank (problems,"
            " bands, attempts); the order concurrent lineages finish in, and so the order of"
            " teacher calls and rows, can differ."
        ),
    ] = None,
    resume: Annotated[
        str | None,
        typer.Option(help="Continue the run with this id from its last checkpoint in --out."),
    ] = None,
    run_id: Annotated[str | None, typer.Option(help="Id for a new run (default: random).")] = None,
    teacher: Annotated[
        str | None,
        typer.Option(help="procedural, or a model string such as vllm:MODEL@http://host:8000/v1."),
    ] = None,
    students: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated: sim:novice,sim:expert,embedded,openai:gpt-4o-mini ... "
            "(default: sim:novice,sim:intermediate,sim:expert on every machine; add embedded "
            "for the real CPU LLM of the embedded extra)."
        ),
    ] = None,
    samples: Annotated[
        int | None, typer.Option("--samples", "-k", help="Samples per student (k).")
    ] = None,
    quota: Annotated[int | None, typer.Option(help="Problems wanted in every band.")] = None,
    preset: Annotated[
        str | None,
        typer.Option(
            help=f"Start from a named preset (a config file and flags still win). {presets_help()}."
        ),
    ] = None,
    environments: Annotated[
        str | None,
        typer.Option(
            help="Environments, comma-separated, each with an optional weight: code, induction, "
            "abduction, deduction, fuzzing (e.g. code,deduction or code=2,fuzzing=1; default "
            "code)."
        ),
    ] = None,
    concurrency: Annotated[int | None, typer.Option(help="Lineages in flight.")] = None,
    postgres: Annotated[
        str | None,
        typer.Option(help="Postgres URL for the checkpointer (default: SQLite in --out)."),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No live progress.")] = False,
) -> None:
    """Generate a banded curriculum of coding problems (offline by default: no GPU, no key)."""
    stopper = SignalStop()
    created = not out.exists()
    run_id = resume or run_id or uuid.uuid4().hex[:12]
    try:
        stopper.install()
        result = _run(
            config,
            out,
            seed,
            resume,
            run_id,
            teacher,
            students,
            samples,
            quota,
            preset,
            environments,
            concurrency,
            postgres,
            quiet,
            stopper,
        )
        _record_command(out, result.run_id)
        if result.stop_reason == "awaiting_review":
            console.print(
                f"run {result.run_id} is waiting for a human review of a problem: "
                "answer it in LangGraph Studio or rerun with --resume in a terminal."
            )
            raise typer.Exit(3)
        if result.already_finished:
            console.print(
                f"run {result.run_id} had already finished; report.json rewritten from the bank",
                soft_wrap=True,
                highlight=False,
            )
        print_summary(result)
    except RunStopped as exc:
        from stepstones.runner import resumable

        if resumable(out, run_id):
            _record_command(out, run_id)
            message = f"{exc}; resume with: stepstones run --out {out} --resume {run_id}"
        else:
            message = f"{exc} before run {run_id} had started; nothing to resume"
            if created:
                shutil.rmtree(out, ignore_errors=True)
        console.print(f"[yellow]{escape(message)}[/yellow]", soft_wrap=True, highlight=False)
        raise typer.Exit(exc.exit_code) from None
    except (ConfigError, ValueError) as exc:
        _fail(exc, 2)
    except (BankMismatch, StorageError) as exc:
        _fail(exc, 1)
    except OSError as exc:
        _fail(exc, 1 if is_storage_error(exc) else 2)
    except sqlite3.Error as exc:
        _fail(f"cannot read the run's files in {out}: {exc}", 1)
    finally:
        stopper.uninstall()


def _record_command(out: Path, run_id: str) -> None:
    """Append this command line to the run's record in its bank (the dataset card shows it)."""
    bank = Bank(out / BANK_FILE)
    try:
        bank.add_run_command(run_id, command_line())
    finally:
        bank.close()


def parse_environments(text: str) -> dict[str, float]:
    """`code,deduction` or `code=2,deduction=1` as environment weights (ConfigError if bad)."""
    weights: dict[str, float] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        name, _, weight = part.partition("=")
        try:
            weights[name.strip()] = float(weight) if weight else 1.0
        except ValueError:
            raise ConfigError(f"--environments: {part!r} is not NAME or NAME=WEIGHT") from None
    if not weights:
        raise ConfigError("--environments names no environment (e.g. code,deduction)")
    return weights


def _fail(exc: BaseException | str, code: int) -> NoReturn:
    console.print(f"[red]error:[/red] {escape(str(exc))}", soft_wrap=True, highlight=False)
    raise typer.Exit(code) from None


def _run(
    config: Path | None,
    out: Path,
    seed: int | None,
    resume: str | None,
    run_id: str,
    teacher: str | None,
    students: str | None,
    samples: int | None,
    quota: int | None,
    preset: str | None,
    environments: str | None,
    concurrency: int | None,
    postgres: str | None,
    quiet: bool,
    stopper: SignalStop,
) -> RunResult:
    """Load the run's context (a resume's from its bank) and run it with live progress.

    A new run's flags and config are checked before the runner (and LangGraph) is imported, so
    a mistake is reported in a fraction of a second.
    """
    if resume:
        from stepstones.runner import stored_context

        ctx = stored_context(out, resume)
    else:
        overrides: dict[str, Any] = {
            "seed": seed,
            "teacher": teacher,
            "samples": samples,
            "concurrency": concurrency,
        }
        if students is not None:
            overrides["students"] = [s.strip() for s in students.split(",") if s.strip()]
            if not overrides["students"]:
                raise ConfigError("--students names no student (e.g. sim:novice,sim:expert)")
        if environments is not None:
            overrides["environments"] = parse_environments(environments)
        if quota is not None and quota < 1:
            raise ConfigError(f"--quota must be at least 1, got {quota}")
        ctx = load_context(config, overrides, preset=preset)
        if quota is not None:
            ctx = ctx.model_copy(
                update={"bands": [b.model_copy(update={"quota": quota}) for b in ctx.bands]}
            )
    from stepstones.runner import run_pipeline

    live = None if quiet else Live(console=console, refresh_per_second=4, transient=False)
    told: set[tuple[str, str]] = set()

    def show(p: Progress) -> None:
        for drop in p.dropped:  # one line each, quiet or not: the run goes on without it
            if (drop.role, drop.model) not in told:
                told.add((drop.role, drop.model))
                console.print(
                    f"[yellow]dropped {drop.role} {escape(drop.model)} from round "
                    f"{drop.round}: {escape(drop.reason)}[/yellow]",
                    soft_wrap=True,
                )
        if live is not None:
            live.update(_table(p))

    if live is not None:
        live.start()
    try:
        return asyncio.run(
            run_pipeline(
                ctx,
                out,
                run_id=run_id,
                resume=resume is not None,
                postgres_url=postgres,
                on_progress=show,
                stopper=stopper,
                reviewer=_terminal_review(live) if sys.stdin.isatty() else None,
            )
        )
    finally:
        if live is not None:
            live.stop()


def _terminal_review(live: Live | None) -> Callable[[dict[str, Any]], dict[str, Any] | None]:
    """Ask on the terminal whether to approve a problem (context `human_review = true`)."""

    def ask(value: dict[str, Any]) -> dict[str, Any] | None:
        if live is not None:
            live.stop()
        problem = value.get("problem", {})
        console.rule(f"review: {problem.get('title', '')} ({value.get('lineage_id')})")
        console.print(problem.get("statement", ""))
        console.print(f"{len(problem.get('tests', []))} tests; reference:")
        console.print(problem.get("reference_solution", ""))
        choice = typer.prompt("approve / reject", default="approve")
        if live is not None:
            live.start()
        if choice.strip().lower().startswith("r"):
            return {"action": "reject", "reason": typer.prompt("reason", default="rejected")}
        return {"action": "approve"}

    return ask


def register(app: typer.Typer) -> None:
    """Add `run` to the CLI."""
    app.command("run")(run)
