"""Simulation mode in every environment: the procedural teacher's problems, and the simulated
students' answers, for induction, abduction, deduction and fuzzing.

The procedural teacher writes code problems of its task families. For a lineage in another
environment the graph derives that environment's draft from the family problem
(`tools/environments/derive.py`) and builds it like an LLM teacher's, every gold answer by
execution in the sandbox. The family's known bugs then become the simulated students' wrong
answers in that environment: a deduction decoy is the output a buggy program gives on the
shown input (run in the sandbox), an abduction decoy one of the probe inputs, a fuzzing decoy
an input on which the property holds. Every answer, right or wrong, is judged by the same
sandbox as a model's, so a simulated pass rate is measured, never assumed.
"""

from __future__ import annotations

import json
import random
from typing import Any

from stepstones.tools.environments import get_environment
from stepstones.tools.environments.derive import derive, derive_fuzzing
from stepstones.tools.environments.gold import execute
from stepstones.tools.sandbox.base import Sandbox
from stepstones.tools.schema import Lineage, Problem, Rejection, content_hash


def _fenced(kind: str, text: str) -> str:
    return f"```{kind}\n{text}\n```"


def _value(value: Any) -> str:
    return _fenced("json", json.dumps(value))


async def derived_problem(
    source: Problem, environment: str, lineage: Lineage, sandbox: Sandbox
) -> Problem | list[Rejection] | None:
    """The `environment` problem derived from the family problem `source`, built by execution,
    with its simulated wrong answers; rejections if the build failed; None when the family has
    no such form (a stdio task has no function to predict)."""
    rng = random.Random(content_hash(source.id, environment, "derive"))
    draft = (
        await derive_fuzzing(source, rng, sandbox)
        if environment == "fuzzing"
        else derive(source, environment, rng)
    )
    if draft is None:
        return None
    built = await get_environment(environment).build(draft, lineage, sandbox)
    if isinstance(built, list):
        return built
    decoys = await _decoys(built, source, sandbox)
    return built.model_copy(
        update={"family": source.family, "level": source.level, "wrong_solutions": decoys}
    )


async def _decoys(problem: Problem, source: Problem, sandbox: Sandbox) -> dict[str, str]:
    """Wrong answers for simulated students, keyed like the family's bugs where they come
    from one (so a student's bug weights still apply)."""
    bugs = {k: v for k, v in sorted(source.wrong_solutions.items()) if k != "too_slow"}
    spec = problem.spec
    match problem.environment:
        case "induction":
            return {k: _fenced("python", code) for k, code in bugs.items()}
        case "deduction":
            shown = json.dumps(spec["input"])
            out: dict[str, str] = {}
            for kind, code in bugs.items():
                run = await execute(
                    sandbox, code, [shown], entry_point=problem.entry_point, repeats=1
                )
                # A bug that crashes here has no output to predict: its student answers that.
                out[kind] = (
                    _fenced("json", run.outputs[0])
                    if run.ok and run.outputs[0]
                    else "It raises an exception."
                )
            return out
        case "abduction":
            return {f"probe_{i}": _value(p) for i, p in enumerate(spec.get("probes", []))}
        case "fuzzing":
            return {
                f"holds_{i}": _fenced("json", t.input) for i, t in enumerate(problem.tests[1:4])
            }
    return {}


def right_answer(problem: Problem) -> str:
    """The reply of a simulated student that got `problem` right, in its environment's form
    (each environment says how: `Environment.simulated_answer`)."""
    return get_environment(problem.environment).simulated_answer(problem)
