"""Induction (program synthesis): infer f from a message and some of its input/output pairs.

The teacher writes f, a natural-language message and k inputs; the sandbox computes
o_k = f(i_k). The student sees the message and the first `shown` pairs and writes f^; reward 1
iff f^(i_k) = o_k for every k, the pairs it was not shown included (arXiv 2603.24202, Table 1).
Hidden pairs are what keep a lookup table of the shown ones from passing.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from stepstones.tools.environments.base import (
    MAX_INPUTS,
    Environment,
    Truth,
    input_texts,
    is_identity,
    json_tests,
    register,
    render,
    same_value,
)
from stepstones.tools.environments.code import ENTRY_PATTERN, code_answer, gold_tests
from stepstones.tools.sandbox.base import Sandbox, Submission
from stepstones.tools.schema import ExecLimits, Lineage, Problem, Record, Rejection
from stepstones.tools.task_prompt import system_message


class InductionDraft(Record):
    """What the teacher writes: f, the message and inputs (the outputs are f's, by execution)."""

    title: str = Field(min_length=1, max_length=200)
    message: str = Field(
        min_length=10,
        max_length=5_000,
        description="what the student is told about f, beside the pairs",
    )
    entry_point: str = Field("f", pattern=ENTRY_PATTERN)
    program: str = Field(min_length=10, max_length=30_000, description="defines entry_point")
    inputs: list[list[Any]] = Field(
        min_length=4, max_length=MAX_INPUTS, description="each a JSON array of arguments"
    )
    shown: int | None = Field(None, ge=1, description="pairs shown (default: half of them)")

    @model_validator(mode="after")
    def _hidden_pairs_exist(self) -> InductionDraft:
        if self.shown is not None and self.shown >= len(self.inputs):
            raise ValueError("shown must leave at least one pair hidden from the student")
        return self


def shown_count(problem: Problem) -> int:
    """How many pairs the student sees (the first ones)."""
    return int(problem.spec.get("shown", max(1, len(problem.tests) // 2)))


class InductionEnvironment(Environment):
    """Message + shown pairs -> the student writes f^, judged on all pairs."""

    name = "induction"
    draft_model = InductionDraft

    async def build(
        self, draft: InductionDraft, lineage: Lineage, sandbox: Sandbox
    ) -> Problem | list[Rejection]:
        """The problem, every pair's output f's output in the sandbox."""
        tests, why = await gold_tests(
            sandbox,
            draft.program,
            input_texts(draft.inputs, "function"),
            draft.entry_point,
            "function",
            "f",
        )
        if why:
            return why
        shown = draft.shown or max(1, len(tests) // 2)
        return Problem(
            title=draft.title,
            statement=draft.message,
            entry_point=draft.entry_point,
            tests=tests,
            reference_solution=draft.program,
            lineage=lineage,
            environment=self.name,
            spec={"shown": shown},
        )

    async def validate(self, problem: Problem, sandbox: Sandbox) -> list[Rejection]:
        """Gold re-checked; then the static checks."""
        out = await super().validate(problem, sandbox)
        return out or self.static_checks(problem)

    def static_checks(self, problem: Problem) -> list[Rejection]:
        """Some pairs hidden and new; f neither constant nor the identity (on the stored gold)."""
        out = super().static_checks(problem)
        data = json_tests(problem)
        if out or data is None:
            return out
        args, outputs = data
        shown = shown_count(problem)
        if not 1 <= shown < len(args):
            out.append(
                Rejection(
                    code="malformed",
                    message=(
                        f"{shown} of {len(args)} pairs shown: "
                        "show at least one and hide at least one"
                    ),
                )
            )
        seen = args[:shown]
        if all(any(same_value(a, s) for s in seen) for a in args[shown:]):
            out.append(
                Rejection(
                    code="trivial",
                    message=(
                        "every hidden input is also a shown one: a lookup table of the shown pairs "
                        "passes; add hidden inputs the student has not seen"
                    ),
                )
            )
        if all(same_value(o, outputs[0]) for o in outputs):
            out.append(
                Rejection(
                    code="trivial",
                    message=(
                        "f returns the same value on every input: a constant passes; choose f and "
                        "inputs whose outputs differ"
                    ),
                )
            )
        if all(is_identity(a, o) for a, o in zip(args, outputs, strict=True)):
            out.append(
                Rejection(
                    code="trivial",
                    message=(
                        "f returns its input unchanged on every input: make f compute something"
                    ),
                )
            )
        return out

    def system_prompt(self) -> str:
        """The code students' system message: one python block."""
        return system_message()

    def task_prompt(self, problem: Problem) -> str:
        """The message and the shown pairs; the hidden ones stay with the judge."""
        pairs = "\n".join(
            f"{problem.entry_point}(*{t.input}) == {t.expected}"
            for t in problem.tests[: shown_count(problem)]
        )
        return render(
            "student_induction",
            message=problem.statement.strip(),
            entry_point=problem.entry_point,
            pairs=pairs,
            hidden=len(problem.tests) - shown_count(problem),
        )

    def answer(
        self, truth: Truth, reply: str, limits: ExecLimits | None = None
    ) -> Submission | None:
        """The reply's program against every pair."""
        return code_answer(truth, reply, limits)


INDUCTION = register(InductionEnvironment())
