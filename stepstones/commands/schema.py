"""`stepstones schema RECORD`: print the JSON schema of a record (problem, verdict, ...)."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from pydantic import BaseModel

from stepstones.graphs.context import RunContext
from stepstones.tools import schema

RECORDS: dict[str, type[BaseModel]] = {
    "problem": schema.Problem,
    "verdict": schema.Verdict,
    "attempt": schema.Attempt,
    "summary": schema.PerformanceSummary,
    "critique": schema.Critique,
    "seed": schema.Seed,
    "config": RunContext,
}


def schema_command(
    record: Annotated[str, typer.Argument(help=f"One of: {', '.join(RECORDS)}.")] = "problem",
) -> None:
    """Print the JSON schema of a record, e.g. the problem format a verifier reads."""
    model = RECORDS.get(record)
    if model is None:
        typer.echo(f"error: unknown record {record!r}; choose from {', '.join(RECORDS)}", err=True)
        raise typer.Exit(2)
    typer.echo(json.dumps(model.model_json_schema(), indent=2))


def register(app: typer.Typer) -> None:
    """Add `schema` to the CLI."""
    app.command("schema")(schema_command)
