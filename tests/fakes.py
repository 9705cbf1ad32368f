"""Scripted stand-ins for tests only: a teacher and students that do exactly what a test says.

The product's simulation mode (procedural teacher, simulated students) lives in agents/; these
exist so a test can force one edge of the graph (a rejected draft, an always-passing student)
without depending on probabilities.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from stepstones.agents.student import Solution
from stepstones.agents.teacher import TeacherRequest, TeacherResult
from stepstones.graphs.context import SIMULATED_STUDENTS
from stepstones.tools.schema import (
    Attempt,
    Critique,
    Lineage,
    PerformanceSummary,
    Problem,
    Record,
    TestCase,
    TurnOutcome,
)


def make_problem(
    reference: str = "def solve(xs):\n    return sorted(xs)\n",
    cases: Sequence[tuple[list[Any], Any]] | None = None,
    *,
    statement: str = "Return the list sorted in ascending order. solve(xs) -> list[int].",
    entry_point: str = "solve",
    lineage: Lineage | None = None,
    **extra: Any,
) -> Problem:
    """A small function-style problem; expected values are given, not computed."""
    cases = (
        cases
        if cases is not None
        else [
            ([[3, 1, 2]], [1, 2, 3]),
            ([[]], []),
            ([[5]], [5]),
            ([[2, 2, 1]], [1, 2, 2]),
            ([[-1, 4, 0]], [-1, 0, 4]),
            ([[9, 8, 7, 6]], [6, 7, 8, 9]),
        ]
    )
    tests = [TestCase(input=json.dumps(args), expected=json.dumps(exp)) for args, exp in cases]
    return Problem(
        title=extra.pop("title", "sort"),
        statement=statement,
        entry_point=entry_point,
        tests=tests,
        reference_solution=reference,
        lineage=lineage or Lineage(seed_id="s0"),
        **extra,
    )


class ScriptedTeacher:
    """Returns problems from a function of the request; records every request it saw."""

    def __init__(self, write: Callable[[TeacherRequest], Problem | None], name: str = "scripted"):
        self.name = name
        self._write = write
        self.requests: list[TeacherRequest] = []

    async def write(self, request: TeacherRequest) -> TeacherResult:
        self.requests.append(request)
        problem = self._write(request)
        if problem is None:
            return TeacherResult(failure="scripted failure")
        lineage = Lineage(
            seed_id=request.seed.id,
            root_id=(request.parent.lineage.root_id or request.parent.id)
            if request.parent
            else None,
            parent_id=request.parent.id if request.parent else None,
            turn=request.turn,
            direction=request.direction,
        )
        return TeacherResult(problem=problem.model_copy(update={"lineage": lineage}))


class ScriptedStudent:
    """Submits `code(problem, sample_index)`; None means a reply with no code."""

    def __init__(self, name: str, code: Callable[[Problem, int], str | None]):
        self.name = name
        self._code = code

    async def solve(self, problem: Problem, k: int) -> list[Solution]:
        return [Solution(code=self._code(problem, i)) for i in range(k)]


def always_right(name: str = "right") -> ScriptedStudent:
    """A student whose every sample is the reference solution."""
    return ScriptedStudent(name, lambda p, i: p.reference_solution)


def always_wrong(name: str = "wrong") -> ScriptedStudent:
    """A student whose every sample returns None."""
    return ScriptedStudent(name, lambda p, i: f"def {p.entry_point}(*a):\n    return None\n")


STUDIO_UPDATES: dict[str, tuple[str, type[Record]]] = {
    "generate_problem": ("problem", Problem),
    "critique_problem": ("critique", Critique),
    "solve_problem": ("attempts", Attempt),
    "summarize_performance": ("summary", PerformanceSummary),
    "assign_band": ("outcomes", TurnOutcome),
}
"""What each turn node's streamed update must carry for a reader to follow a turn in Studio."""

SIMULATED = ",".join(SIMULATED_STUDENTS)
"""The default students without the embedded LLM (a default where that extra is installed)."""


def start_run(*args: str) -> subprocess.Popen[str]:
    """`stepstones run ARGS` in a subprocess, output captured (for kill and signal tests).

    Simulated students only, unless ARGS name others: these tests are about the graph, and the
    embedded LLM would make them minutes long.
    """
    students = [] if "--students" in args else ["--students", SIMULATED]
    return subprocess.Popen(
        [sys.executable, "-m", "stepstones", "run", *students, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def bank_turns(out: Path) -> int:
    """Turns recorded so far in the bank of run directory `out` (0 before it exists)."""
    try:
        with sqlite3.connect(out / "bank.sqlite", timeout=1) as db:
            return int(db.execute("select count(*) from turns").fetchone()[0])
    except sqlite3.Error:
        return 0


def kill_9_when_banked(out: Path, proc: subprocess.Popen[str], turns: int) -> None:
    """kill -9 the run `proc` writing into `out` once its bank holds `turns` turn records
    (fails the test if the run finished first)."""
    deadline = time.monotonic() + 300
    while bank_turns(out) < turns and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    if proc.poll() is not None:
        pytest.fail(f"run finished before the kill point {turns}: {proc.stderr.read()}")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
