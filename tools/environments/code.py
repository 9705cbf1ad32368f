"""The statement-and-tests environment, with every expected output computed by execution.

The teacher writes a statement, a reference solution and test *inputs*; the expected outputs
are the reference's outputs in the sandbox, so a teacher's slip in mental arithmetic can no
longer make a wrong test. Students write code judged against the tests, as before.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from stepstones.tools.codeblocks import extract_code
from stepstones.tools.environments.base import (
    MAX_INPUTS,
    Environment,
    Truth,
    input_texts,
    limits_for,
    register,
)
from stepstones.tools.environments.gold import GoldRun, execute
from stepstones.tools.sandbox.base import Sandbox, Submission
from stepstones.tools.schema import (
    ExecLimits,
    IOStyle,
    Lineage,
    Problem,
    Record,
    Rejection,
    TestCase,
)
from stepstones.tools.task_prompt import system_message, user_message

ENTRY_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"


class CodeDraft(Record):
    """What the teacher writes for a code problem: no expected outputs anywhere."""

    title: str = Field(min_length=1, max_length=200)
    statement: str = Field(min_length=20, max_length=20_000)
    entry_point: str = Field("solve", pattern=ENTRY_PATTERN)
    io_style: IOStyle = "function"
    inputs: list[list[Any] | str] = Field(
        min_length=3,
        max_length=MAX_INPUTS,
        description="function style: each a JSON array of arguments; stdio: each stdin text",
    )
    reference_solution: str = Field(min_length=10, max_length=30_000)

    @model_validator(mode="after")
    def _inputs_match_style(self) -> CodeDraft:
        want = str if self.io_style == "stdio" else list
        if not all(isinstance(x, want) for x in self.inputs):
            kind = "a string of stdin" if want is str else "a JSON array of arguments"
            raise ValueError(f"with io_style {self.io_style!r} every input must be {kind}")
        return self


async def gold_tests(
    sandbox: Sandbox, program: str, texts: list[str], entry_point: str, io_style: IOStyle, who: str
) -> tuple[list[TestCase], list[Rejection]]:
    """Tests whose expected outputs are `program`'s outputs, or why there are none."""
    run: GoldRun = await execute(
        sandbox, program, texts, entry_point=entry_point, io_style=io_style
    )
    if not run.ok:
        return [], run.rejections(who)
    return [
        TestCase(input=x, expected=o or "") for x, o in zip(texts, run.outputs, strict=True)
    ], []


def code_answer(truth: Truth, reply: str, limits: ExecLimits | None) -> Submission | None:
    """The program in a reply, judged against every test (the hidden ones too)."""
    code = extract_code(reply, truth.entry_point)
    if code is None:
        return None
    return Submission(
        code=code,
        tests=truth.tests,
        entry_point=truth.entry_point,
        io_style=truth.io_style,
        limits=limits_for(truth.time_limit_s, limits),
    )


class CodeEnvironment(Environment):
    """Statement, tests and a reference; the student writes code that passes every test."""

    name = "code"
    draft_model = CodeDraft

    async def build(
        self, draft: CodeDraft, lineage: Lineage, sandbox: Sandbox
    ) -> Problem | list[Rejection]:
        """The problem, its expected outputs the reference's outputs in the sandbox."""
        tests, why = await gold_tests(
            sandbox,
            draft.reference_solution,
            input_texts(draft.inputs, draft.io_style),
            draft.entry_point,
            draft.io_style,
            "the reference solution",
        )
        if why:
            return why
        return Problem(
            title=draft.title,
            statement=draft.statement,
            entry_point=draft.entry_point,
            io_style=draft.io_style,
            tests=tests,
            reference_solution=draft.reference_solution,
            lineage=lineage,
        )

    def system_prompt(self) -> str:
        """Today's student system message: one python block."""
        return system_message()

    def task_prompt(self, problem: Problem) -> str:
        """Today's task prompt, unchanged (the bank's pass rates were measured on it)."""
        return user_message(problem)

    def answer(
        self, truth: Truth, reply: str, limits: ExecLimits | None = None
    ) -> Submission | None:
        """The reply's program against the tests."""
        return code_answer(truth, reply, limits)


CODE = register(CodeEnvironment())
