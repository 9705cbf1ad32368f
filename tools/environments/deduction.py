"""Deduction (output prediction): given f and an input, say what f returns.

The teacher writes f and an input i; o = f(i) by execution. The student sees f and i and
answers a value; reward 1 iff it equals o as a value (arXiv 2603.24202, Table 1). The answer is
parsed as data (`answers.answer_value`) and judged in the sandbox by an echo function, so the
comparison is the judge's own: bools are not ints, floats within 1e-9 only when o is a float,
tuples read as lists; a huge, deep or non-JSON answer is no answer and scores 0.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import Field

from stepstones.tools.environments.answers import answer_value
from stepstones.tools.environments.base import (
    Environment,
    Truth,
    dumps,
    echoes_its_input,
    limits_for,
    register,
    render,
    same_value,
)
from stepstones.tools.environments.code import ENTRY_PATTERN, gold_tests
from stepstones.tools.environments.gold import execute
from stepstones.tools.sandbox.base import Sandbox, Submission
from stepstones.tools.schema import ExecLimits, Lineage, Problem, Record, Rejection, TestCase

ECHO = "def answer(value):\n    return value\n"
"""The trusted program that judges a value answer: the sandbox returns it, the host compares."""


class DeductionDraft(Record):
    """f, the input the student is given, and probe inputs (a check that f is not constant)."""

    title: str = Field(min_length=1, max_length=200)
    entry_point: str = Field("f", pattern=ENTRY_PATTERN)
    program: str = Field(min_length=10, max_length=30_000, description="defines entry_point")
    input: list[Any] = Field(description="the JSON array of arguments the student is given")
    probes: list[list[Any]] = Field(
        min_length=2,
        max_length=10,
        description=("other argument arrays, never shown: f must not return the same value on all"),
    )


def program_task(env: str, entry_point: str, args: Any) -> str:
    """A statement that names the task without the program (dedup compares statements, and
    the critic's leak check must not see the shown program as a leak)."""
    return f"{env}: the program `{entry_point}` and the arguments {dumps(args)[:300]}"


async def probe_outputs(
    sandbox: Sandbox, problem: Problem, probes: list[Any]
) -> tuple[list[Any], list[Rejection]]:
    """f's outputs on probe argument arrays, or why it could not run them."""
    run = await execute(
        sandbox,
        problem.reference_solution,
        [dumps(p) for p in probes],
        entry_point=problem.entry_point,
        limits=limits_for(problem.time_limit_s),
    )
    if not run.ok:
        return [], run.rejections("f (on a probe input)")
    return run.values(), []


class DeductionEnvironment(Environment):
    """f and i shown; the student answers o = f(i) as a value."""

    name = "deduction"
    draft_model = DeductionDraft

    async def build(
        self, draft: DeductionDraft, lineage: Lineage, sandbox: Sandbox
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
            statement=program_task("Predict the output", draft.entry_point, draft.input),
            entry_point=draft.entry_point,
            tests=tests,
            reference_solution=draft.program,
            lineage=lineage,
            environment=self.name,
            spec={"input": draft.input, "output": output, "probes": draft.probes},
        )

    def static_checks(self, problem: Problem) -> list[Rejection]:
        """o is not the input (on the stored gold)."""
        out = super().static_checks(problem)
        if out or not echoes_its_input(problem):
            return out
        return [
            Rejection(
                code="trivial",
                message=(
                    "f returns its input unchanged on the given input: the answer is in the "
                    "question; choose an input f transforms"
                ),
            )
        ]

    async def validate(self, problem: Problem, sandbox: Sandbox) -> list[Rejection]:
        """Gold re-checked; o is not the input; f is not constant over i and the probes."""
        out = await super().validate(problem, sandbox)
        if out:
            return out
        out = self.static_checks(problem)
        output = json.loads(problem.tests[0].expected)
        probes = list(problem.spec.get("probes") or [])
        values, why = await probe_outputs(sandbox, problem, probes)
        if why:
            return out + why
        if probes and all(same_value(v, output) for v in values):
            out.append(
                Rejection(
                    code="trivial",
                    message=(
                        "f returns the same value on the input and every probe: the answer "
                        "does not depend on the input; make f's output depend on its arguments"
                    ),
                )
            )
        return out

    def simulated_answer(self, problem: Problem) -> str:
        """The right answer as a simulated student writes it: a JSON block."""
        return f"```json\n{dumps(problem.spec['output'])}\n```"

    def task_prompt(self, problem: Problem) -> str:
        """f and the input; the answer is a JSON value."""
        return render(
            "student_deduction",
            program=problem.reference_solution.strip(),
            entry_point=problem.entry_point,
            args=problem.tests[0].input,
        )

    def answer(
        self, truth: Truth, reply: str, limits: ExecLimits | None = None
    ) -> Submission | None:
        """The reply's value, echoed in the sandbox and compared with o on the host."""
        value = answer_value(reply)
        if value is None:
            return None
        return Submission(
            code=ECHO,
            entry_point="answer",
            tests=[TestCase(input=f"[{value}]", expected=truth.tests[0].expected)],
            limits=limits or ExecLimits(),
        )


DEDUCTION = register(DeductionEnvironment())
