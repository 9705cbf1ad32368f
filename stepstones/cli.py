"""The `stepstones` command line: one typer app; each command lives in stepstones/commands/.

Every module in `stepstones.commands` exposes `register(app)`; COMMANDS lists them, so what the
program offers is read here, not discovered. Errors a user can fix end as one red line and exit
code 2.
"""

from __future__ import annotations

import typer

from stepstones.commands import exec as exec_command
from stepstones.commands import export, report, run, schema

app = typer.Typer(
    name="stepstones",
    help="Manufacture curriculum-ready RL data for code models (teacher, critic, students).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


COMMANDS = (exec_command, export, report, run, schema)
"""The modules whose `register(app)` adds a command; a new command is added here."""


def _register_commands() -> None:
    for module in COMMANDS:
        module.register(app)


def main() -> None:
    """Entry point of the `stepstones` console script."""
    _register_commands()
    app()
