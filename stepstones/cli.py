"""The `stepstones` command line: one typer app; each command lives in stepstones/commands/.

Every module in `stepstones.commands` exposes `register(app)`, so a command is added by adding a
file, and `--help` lists them all. Errors a user can fix end as one red line and exit code 2.
"""

from __future__ import annotations

import importlib
import pkgutil

import typer

from stepstones import commands

app = typer.Typer(
    name="stepstones",
    help="Manufacture curriculum-ready RL data for code models (teacher, critic, students).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _register_commands() -> None:
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        register = getattr(module, "register", None)
        if callable(register):
            register(app)


def main() -> None:
    """Entry point of the `stepstones` console script."""
    _register_commands()
    app()
