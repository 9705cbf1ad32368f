"""CLI commands: each module exposes `register(app: typer.Typer)`."""

from __future__ import annotations

import shlex
import sys


def command_line() -> str:
    """This invocation as a `stepstones ...` command line (what a dataset card records)."""
    return shlex.join(["stepstones", *sys.argv[1:]])
