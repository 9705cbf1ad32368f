"""A problem back in the form its teacher writes: the draft of its environment.

The refine and repair prompts show the teacher the parent (or the rejected problem) in exactly
the schema it must reply with, so a reply that edits it is valid; the gold outputs, which the
teacher never writes, are left out.
"""

from __future__ import annotations

import json
from typing import Any

from stepstones.tools.environments.abduction import AbductionDraft
from stepstones.tools.environments.code import CodeDraft
from stepstones.tools.environments.deduction import DeductionDraft
from stepstones.tools.environments.fuzzing import FuzzingDraft
from stepstones.tools.environments.induction import InductionDraft
from stepstones.tools.schema import Problem, Record

SHOWN_INPUTS = 12
"""Inputs quoted back to the teacher (enough to edit, not a wall of JSON)."""


def _inputs(problem: Problem, skip: int = 0) -> list[Any]:
    tests = problem.tests[skip : skip + SHOWN_INPUTS]
    if problem.io_style == "stdio":
        return [t.input for t in tests]
    return [json.loads(t.input) for t in tests]


def draft_of(problem: Problem) -> Record:
    """The problem as its environment's draft (model_construct: a shortened input list or a
    derived problem need not meet a draft's own minimums to be shown)."""
    common: dict[str, Any] = {"title": problem.title or "task", "entry_point": problem.entry_point}
    spec = problem.spec
    match problem.environment:
        case "induction":
            return InductionDraft.model_construct(
                **common,
                message=problem.statement,
                program=problem.reference_solution,
                inputs=_inputs(problem),
                shown=spec.get("shown"),
            )
        case "deduction" | "abduction":
            model = DeductionDraft if problem.environment == "deduction" else AbductionDraft
            return model.model_construct(
                **common,
                program=problem.reference_solution,
                input=spec.get("input", []),
                probes=spec.get("probes", []),
            )
        case "fuzzing":
            return FuzzingDraft.model_construct(
                **common,
                message=problem.statement,
                program=problem.reference_solution,
                pre_test=spec.get("pre_test", ""),
                test=spec.get("test", ""),
                witness=spec.get("witness", []),
                inputs=_inputs(problem, skip=1),
            )
        case _:
            return CodeDraft.model_construct(
                **common,
                statement=problem.statement,
                io_style=problem.io_style,
                inputs=_inputs(problem),
                reference_solution=problem.reference_solution,
            )


def draft_json(problem: Problem) -> str:
    """`draft_of(problem)` as the JSON the teacher writes."""
    return json.dumps(draft_of(problem).model_dump(mode="json"), indent=1)
