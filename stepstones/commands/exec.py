"""`stepstones exec`: judge one solution file against a problem file in the sandbox.

Prints the verdict as JSON. Exit codes: 0 passed, 1 failed (any verdict but passed), 2 bad input
(one error line), 3 the sandbox itself failed (infrastructure, not the solution).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from stepstones.tools.schema import Problem, Verdict, validation_summary


def _fail(message: str) -> typer.Exit:
    typer.secho(f"error: {message}", err=True, fg="red")
    return typer.Exit(2)


async def _judge(problem: Problem, code: str, backend: str, calibrate_first: bool) -> Verdict:
    from stepstones.tools.sandbox import get_sandbox
    from stepstones.tools.sandbox.base import SandboxConfig, Submission
    from stepstones.tools.sandbox.calibrate import calibrate

    config = SandboxConfig(backend=backend, workers=1)
    sandbox = get_sandbox(config)
    try:
        if calibrate_first:
            ref, limit = await calibrate(sandbox, problem, config)
            if limit is None:
                raise _fail(
                    f"the problem's reference solution does not pass ({ref.status}: "
                    f"{ref.error}); cannot calibrate"
                )
            problem = problem.model_copy(update={"time_limit_s": limit})
        (verdict,) = await sandbox.run([Submission.for_problem(problem, code)])
        return verdict
    finally:
        await sandbox.aclose()


def exec_command(
    problem: Annotated[Path, typer.Option(help="Problem JSON (see `stepstones schema problem`).")],
    solution: Annotated[Path, typer.Option(help="Python file with the solution.")],
    calibrate: Annotated[
        bool,
        typer.Option(
            help="Run the reference first and use the calibrated CPU limit "
            "(default when the problem has no time_limit_s)."
        ),
    ] = False,
    backend: Annotated[str, typer.Option(help="Sandbox backend: local or e2b.")] = "local",
) -> None:
    """Run SOLUTION against PROBLEM's tests in the sandbox and print the verdict JSON."""
    try:
        prob = Problem.model_validate_json(problem.read_text(encoding="utf-8"))
        code = solution.read_text(encoding="utf-8")
    except OSError as exc:
        raise _fail(f"cannot read {exc.filename}: {exc.strerror}") from None
    except ValidationError as exc:
        raise _fail(f"{problem} is not a valid problem: {validation_summary(exc)}") from None
    if backend not in ("local", "e2b"):
        raise _fail(f"unknown backend {backend!r}; choose local or e2b")
    try:
        verdict = asyncio.run(_judge(prob, code, backend, calibrate or prob.time_limit_s is None))
    except typer.Exit:
        raise
    except RuntimeError as exc:  # isolation unavailable, E2B key missing, ...
        raise _fail(str(exc)) from None
    typer.echo(verdict.model_dump_json(indent=2))
    if verdict.status == "sandbox_error":
        raise typer.Exit(3)
    raise typer.Exit(0 if verdict.ok else 1)


def register(app: typer.Typer) -> None:
    """Add `exec` to the CLI."""
    app.command("exec")(exec_command)
