"""Drafts of every environment from an existing code problem, for the offline teacher.

Simulation mode has no model to write programs, but the procedural families already give
correct references with test inputs: f is the reference and the inputs are its tests', chosen
by a seeded rng, so the same problem and rng state always give the same draft. The drafts then
go through the environments' own `build` and `validate`, gold computed by execution as for an
LLM teacher's.

Fuzzing is differential: f is one of the family's known wrong solutions and the property is
"f agrees with the reference". The witness is a test the wrong solution fails, found by running
it (so that derivation needs the sandbox); the precondition accepts arguments shaped like the
tests' on which the reference itself runs, so crashing the reference is never a found bug.
"""

from __future__ import annotations

import json
import random
from typing import Any

from stepstones.tools.environments.abduction import AbductionDraft
from stepstones.tools.environments.code import CodeDraft
from stepstones.tools.environments.deduction import DeductionDraft
from stepstones.tools.environments.fuzzing import FuzzingDraft
from stepstones.tools.environments.induction import InductionDraft
from stepstones.tools.sandbox.base import Sandbox, Submission
from stepstones.tools.schema import Problem

PROBES = 3
DRAFTS = ("code", "induction", "deduction", "abduction")
"""Environments derived without running anything; fuzzing needs the sandbox (`derive_fuzzing`)."""


def _args(problem: Problem) -> list[list[Any]]:
    return [json.loads(t.input) for t in problem.tests]


def derive(problem: Problem, environment: str, rng: random.Random) -> Any | None:
    """A draft of `environment` from a code problem; None where it has no such draft (a stdio
    problem has no f for the program environments)."""
    if environment == "code":
        inputs: list[Any] = (
            [t.input for t in problem.tests] if problem.io_style == "stdio" else _args(problem)
        )
        return CodeDraft(
            title=problem.title or "task",
            statement=problem.statement,
            entry_point=problem.entry_point,
            io_style=problem.io_style,
            inputs=inputs,
            reference_solution=problem.reference_solution,
        )
    if problem.io_style != "function":
        return None
    args = _args(problem)
    common = {
        "title": problem.title or "task",
        "entry_point": problem.entry_point,
        "program": problem.reference_solution,
    }
    if environment == "induction":
        if len(args) < 4:
            return None
        return InductionDraft(
            **common,
            message=problem.statement,
            inputs=args,
            shown=rng.randint(max(1, len(args) // 3), len(args) - 2),
        )
    if environment in ("deduction", "abduction"):
        if len(args) < 3:
            return None
        order = rng.sample(range(len(args)), len(args))
        pick, probes = args[order[0]], [args[i] for i in order[1 : 1 + PROBES]]
        model = DeductionDraft if environment == "deduction" else AbductionDraft
        return model(**common, input=pick, probes=probes)
    return None


_PRE = """import json as _json

_SHAPES = {shapes}
_REFERENCE = {reference}


def _reference(*args):
    ns = {{"__name__": "reference"}}
    exec(_REFERENCE, ns)
    return ns[{entry}](*args)


def pre_test(*args):
    if len(args) != len(_SHAPES):
        return False
    if any(type(a).__name__ not in ok for a, ok in zip(args, _SHAPES)):
        return False
    try:
        _json.dumps(_reference(*args))
    except Exception:
        return False
    return True
"""

_TEST = """import copy as _copy


def test(*args):
    return {entry}(*_copy.deepcopy(args)) == _reference(*_copy.deepcopy(args))
"""


async def derive_fuzzing(
    problem: Problem, rng: random.Random, sandbox: Sandbox
) -> FuzzingDraft | None:
    """A differential fuzzing draft (see the module docstring), or None when no wrong solution
    both fails a test and passes two (a timeout is no witness: it only shows slowness)."""
    if problem.io_style != "function" or not problem.wrong_solutions:
        return None
    kinds = [k for k in sorted(problem.wrong_solutions) if k != "too_slow"]
    rng.shuffle(kinds)
    args = _args(problem)
    shapes = [
        sorted({type(a[i]).__name__ for a in args if len(a) > i})
        for i in range(max(len(a) for a in args))
    ]
    for kind in kinds:
        wrong = problem.wrong_solutions[kind]
        (verdict,) = await sandbox.run([Submission.for_problem(problem, wrong)])
        failed = [t.index for t in verdict.tests if t.status in ("wrong_answer", "runtime_error")]
        held = [t.index for t in verdict.tests if t.status == "passed"]
        if not failed or len(held) < 2:
            continue
        entry = problem.entry_point
        pre = _PRE.format(
            shapes=repr(shapes), reference=repr(problem.reference_solution), entry=repr(entry)
        )
        return FuzzingDraft(
            title=problem.title or "task",
            entry_point=entry,
            program=wrong,
            pre_test=pre,
            test=_TEST.format(entry=entry),
            message=(f"{entry} is meant to solve this task, but has a bug:\n\n{problem.statement}"),
            witness=args[rng.choice(failed)],
            inputs=[args[i] for i in held],
        )
    return None
