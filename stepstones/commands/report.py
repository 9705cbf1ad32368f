"""`stepstones report`: one run of a bank as an HTML or Markdown page with tables and plots."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from stepstones.tools.store import DEFAULT_BANK

console = Console(stderr=True)


def report(
    out: Annotated[Path, typer.Option(help="Page to write (report.html or report.md).")],
    run_id: Annotated[
        str | None, typer.Option("--run", help="Run id (default: the bank's newest run).")
    ] = None,
    bank: Annotated[Path, typer.Option(help="Problem bank (bank.sqlite in a run's --out).")] = (
        DEFAULT_BANK
    ),
    fmt: Annotated[str, typer.Option("--format", help="html (images embedded) or md.")] = "html",
) -> None:
    """Render a run's bands, yield, rejections, usage and example chains as one page."""
    # matplotlib loads only when a report is asked for, not on every CLI start.
    try:
        from stepstones.reporting.page import FORMATS, ReportError, render_report
    except ImportError as exc:
        console.print(
            f"[red]error:[/red] the report needs matplotlib ({exc.name} is missing): "
            'pip install "stepstones[evals]"',
            soft_wrap=True,
            highlight=False,
        )
        raise typer.Exit(2) from None

    try:
        if fmt not in FORMATS:
            raise ReportError(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}")
        path = render_report(bank, out, run_id=run_id, fmt=fmt)
    except (ReportError, OSError) as exc:
        console.print(f"[red]error:[/red] {escape(str(exc))}", soft_wrap=True, highlight=False)
        raise typer.Exit(2) from None
    typer.echo(f"report written to {path}")


def register(app: typer.Typer) -> None:
    """Add `report` to the CLI."""
    app.command("report")(report)
