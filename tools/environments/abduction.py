"""Abduction (input prediction): given f and an output, find an input that gives it.

The teacher writes f and an input i; o = f(i) by execution. The student sees f and o and
answers an argument list i^. The default reward runs f on i^ in the sandbox: 1 iff f(i^) = o.
The paper's Table 1 writes the reward as 1[i^ = i] (exact match with the teacher's input);
`match="exact"` offers that stricter variant, which also fails right answers f maps to o.
The answer is data: only the teacher's f (shown to the student anyway) ever runs on it.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import Field

from stepstones.tools.environments.answers import answer_args
from stepstones.tools.environments.base import (
    Environment,
    Truth,
    dumps,
    echoes_its_input,
    is_identity,
    limits_for,
    register,
    render,
    same_value,
)
from stepstones.tools.environments.code import ENTRY_PATTERN, gold_tests
from stepstones.tools.environments.deduction import probe_outputs, program_task
from stepstones.tools.sandbox.base import Sandbox, Submission
from stepstones.tools.schema import ExecLimits, Lineage, Problem, Record, Rejection, TestCase

Match = Literal["execution", "exact"]

ECHO_ARGS = "def answer(*args):\n    return list(args)\n"
"""The trusted program of exact matching: the answer's arguments back, compared with i."""


_IDENTITY = Rejection(
    code="trivial",
    message=(
        "f returns its input unchanged, so the output is the answer: "
        "choose f and an input that f transforms"
    ),
)


class AbductionDraft(Record):
    """f, the input whose output the student is shown, and probes (f must not be constant)."""

    title: str = Field(min_length=1, max_length=200)
    entry_point: str = Field("f", pattern=ENTRY_PATTERN)
    program: str = Field(min_length=10, max_length=30_000, description="defines entry_point")
    input: list[Any] = Field(description="the JSON array of arguments; never shown")
    probes: list[list[Any]] = Field(
        min_length=2,
        max_length=10,
        description=("other argument arrays: f must not be the identity or constant on them"),
    )


class AbductionEnvironment(Environment):
    """f and o shown; the student answers an input, judged by running f on it."""

    name = "abduction"
    draft_model = AbductionDraft

    def __init__(self, match: Match = "execution") -> None:
        self.match: Match = match

    async def build(
        self, draft: AbductionDraft, lineage: Lineage, sandbox: Sandbox
    ) -> Problem | list[Rejection]:
        """The problem, o computed by running f on i."""
        tests, why = await gold_tests(
            sandbox, draft.program, [dumps(draft.input)], draft.entry_point, "function", "f"
        )
        if why:
            return why
        output = json.loads(tests[0].expected)
        return Problem(
            title=draft.title,
            statement=program_task("Find an input", draft.entry_point, output),
            entry_point=draft.entry_point,
            tests=tests,
            reference_solution=draft.program,
            lineage=lineage,
            environment=self.name,
            spec={
                "input": draft.input,
                "output": output,
                "match": self.match,
                "probes": draft.probes,
            },
        )

    def static_checks(self, problem: Problem) -> list[Rejection]:
        """o is not i (on the stored gold; the probes need the sandbox)."""
        out = super().static_checks(problem)
        if out or not echoes_its_input(problem):
            return out
        return [_IDENTITY.model_copy()]

    async def validate(self, problem: Problem, sandbox: Sandbox) -> list[Rejection]:
        """Gold re-checked; o is not i; f is neither the identity nor constant on the probes."""
        out = await super().validate(problem, sandbox)
        if out:
            return out
        args = json.loads(problem.tests[0].input)
        output = json.loads(problem.tests[0].expected)
        probes = list(problem.spec.get("probes") or [])
        values, why = await probe_outputs(sandbox, problem, probes)
        if why:
            return why
        if is_identity(args, output) or (
            probes and all(is_identity(p, v) for p, v in zip(probes, values, strict=True))
        ):
            out.append(_IDENTITY.model_copy())
        if probes and all(same_value(v, output) for v in values):
            out.append(
                Rejection(
                    code="trivial",
                    message=(
                        "f returns the same value on every probe: almost any input is an "
                        "answer; make f's output depend on its arguments"
                    ),
                )
            )
        return out

    def truth(self, problem: Problem) -> Truth:
        """With f itself: the judge runs it on the answer (the student is shown it anyway)."""
        return super().truth(problem).model_copy(update={"program": problem.reference_solution})

    def simulated_answer(self, problem: Problem) -> str:
        """The right answer as a simulated student writes it: a JSON block."""
        return f"```json\n{dumps(problem.spec['input'])}\n```"

    def task_prompt(self, problem: Problem) -> str:
        """f and o; the answer is a JSON argument array."""
        return render(
            "student_abduction",
            program=problem.reference_solution.strip(),
            entry_point=problem.entry_point,
            output=problem.tests[0].expected,
        )

    def answer(
        self, truth: Truth, reply: str, limits: ExecLimits | None = None
    ) -> Submission | None:
        """f run on the reply's arguments (or, with exact matching, the arguments echoed and
        compared with i)."""
        args = answer_args(reply, truth.entry_point)
        if args is None:
            return None
        if truth.spec.get("match") == "exact":
            return Submission(
                code=ECHO_ARGS,
                entry_point="answer",
                tests=[TestCase(input=args, expected=dumps(truth.spec["input"]))],
                limits=limits or ExecLimits(),
            )
        if truth.program is None:
            return None
        return Submission(
            code=truth.program,
            entry_point=truth.entry_point,
            tests=[TestCase(input=args, expected=truth.tests[0].expected)],
            limits=limits_for(truth.time_limit_s, limits),
        )


ABDUCTION = register(AbductionEnvironment())
