"""Fuzzing (property-based testing): find an input that meets the precondition and breaks
the property.

The teacher writes f, `pre_test` (a type/precondition check) and `test` (a property of f); the
student answers an argument list i^; reward 1 iff pre_test(i^) and not test(i^)
(arXiv 2603.24202, Table 1). `test` raising counts as the property failing; `pre_test` raising
as the precondition not met. The teacher also gives a witness the sandbox must confirm and
ordinary inputs on which the property holds, so a task with no failing input, or one where
every input fails, is rejected.

Judging runs a trusted wrapper around the teacher's code; the student's answer reaches it only
as JSON data, so it cannot touch the verdict the wrapper returns.
"""

from __future__ import annotations

import ast
import json
from typing import Any

from pydantic import Field

from stepstones.tools.environments.answers import answer_args
from stepstones.tools.environments.base import (
    MAX_INPUTS,
    Environment,
    Truth,
    dumps,
    limits_for,
    register,
    render,
)
from stepstones.tools.environments.code import ENTRY_PATTERN, gold_tests
from stepstones.tools.sandbox.base import Sandbox, Submission
from stepstones.tools.schema import ExecLimits, Lineage, Problem, Record, Rejection, TestCase

FUZZ_ENTRY = "__stepstones_fuzz__"
FOUND, HOLDS, PRECONDITION = "found", "holds", "precondition"
WRAPPER = f'''

import copy as __stepstones_copy


def {FUZZ_ENTRY}(*args):
    try:
        met = bool(pre_test(*__stepstones_copy.deepcopy(args)))
    except MemoryError:
        raise
    except Exception:
        met = False
    if not met:
        return "{PRECONDITION}"
    try:
        held = bool(test(*__stepstones_copy.deepcopy(args)))
    except MemoryError:
        raise
    except Exception:
        held = False
    return "{HOLDS}" if held else "{FOUND}"
'''
"""Appended last, so the teacher's code cannot redefine it; a MemoryError (a limit, not a
property) is the run's failure, never a found bug."""


def wrapped(program: str, pre_test: str, test: str) -> str:
    """The trusted program whose return value on an input says what the input is."""
    return "\n\n".join((program.rstrip(), pre_test.rstrip(), test.rstrip())) + WRAPPER


class FuzzingDraft(Record):
    """f, its precondition and property, a failing witness and inputs where it holds."""

    title: str = Field(min_length=1, max_length=200)
    message: str = Field("", max_length=5_000, description="what f is for, for the student")
    entry_point: str = Field("f", pattern=ENTRY_PATTERN)
    program: str = Field(min_length=10, max_length=30_000, description="defines entry_point")
    pre_test: str = Field(
        min_length=10, max_length=10_000, description="defines pre_test(*args) -> bool"
    )
    test: str = Field(
        min_length=10,
        max_length=10_000,
        description="defines test(*args) -> bool, calling entry_point",
    )
    witness: list[Any] = Field(description="arguments meeting pre_test on which test fails")
    inputs: list[list[Any]] = Field(
        min_length=2,
        max_length=MAX_INPUTS,
        description="arguments meeting pre_test on which test holds",
    )


def _defines(code: str, name: str) -> bool:
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return any(isinstance(n, ast.FunctionDef) and n.name == name for n in tree.body)


def _calls(code: str, name: str) -> bool:
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return any(isinstance(n, ast.Name) and n.id == name for n in ast.walk(tree))


class FuzzingEnvironment(Environment):
    """f, pre_test and test shown; the student answers an input that breaks the property."""

    name = "fuzzing"
    draft_model = FuzzingDraft

    async def build(
        self, draft: FuzzingDraft, lineage: Lineage, sandbox: Sandbox
    ) -> Problem | list[Rejection]:
        """The problem; what each of the witness and the inputs is, found by running them."""
        code = wrapped(draft.program, draft.pre_test, draft.test)
        texts = [dumps(draft.witness), *(dumps(x) for x in draft.inputs)]
        tests, why = await gold_tests(sandbox, code, texts, FUZZ_ENTRY, "function", "the checks")
        if why:
            return why
        return Problem(
            title=draft.title,
            statement=draft.message or draft.title,
            entry_point=draft.entry_point,
            tests=tests,
            reference_solution=draft.program,
            lineage=lineage,
            environment=self.name,
            spec={"pre_test": draft.pre_test, "test": draft.test, "witness": draft.witness},
        )

    def gold_program(self, problem: Problem) -> tuple[str, str]:
        """The wrapper: the tests' expected outputs are what it says of each input."""
        return wrapped(
            problem.reference_solution,
            str(problem.spec.get("pre_test", "")),
            str(problem.spec.get("test", "")),
        ), FUZZ_ENTRY

    def static_checks(self, problem: Problem) -> list[Rejection]:
        """The checks are defined at top level and test calls f."""
        out = super().static_checks(problem)
        if out:
            return out
        spec = problem.spec
        if not _defines(str(spec.get("pre_test", "")), "pre_test"):
            out.append(
                Rejection(
                    code="malformed",
                    message=("pre_test must define `def pre_test(*args) -> bool` at top level"),
                )
            )
        if not _defines(str(spec.get("test", "")), "test"):
            out.append(
                Rejection(
                    code="malformed",
                    message=("test must define `def test(*args) -> bool` at top level"),
                )
            )
        elif not _calls(str(spec.get("test", "")), problem.entry_point):
            out.append(
                Rejection(
                    code="malformed",
                    message=(
                        f"test never calls {problem.entry_point}: the property must be about f"
                    ),
                )
            )
        return out

    async def validate(self, problem: Problem, sandbox: Sandbox) -> list[Rejection]:
        """The static checks; then the sandbox confirms the witness fails the property and
        every ordinary input meets the precondition and passes it."""
        out = self.static_checks(problem)
        if out:
            return out
        out = await super().validate(problem, sandbox)
        if out:
            return out
        verdicts = [json.loads(t.expected) for t in problem.tests]
        if verdicts[0] != FOUND:
            why = "does not meet pre_test" if verdicts[0] == PRECONDITION else "passes test"
            out.append(
                Rejection(
                    code="reference_fails",
                    message=(
                        f"the witness {problem.tests[0].input[:200]} {why}: give an input "
                        "that meets pre_test and on which test fails (or returns False)"
                    ),
                )
            )
        for i, (t, v) in enumerate(zip(problem.tests[1:], verdicts[1:], strict=True)):
            if v == PRECONDITION:
                out.append(
                    Rejection(
                        code="malformed",
                        message=(f"ordinary input {i} ({t.input[:200]}) does not meet pre_test"),
                    )
                )
            elif v == FOUND:
                out.append(
                    Rejection(
                        code="trivial",
                        message=(
                            f"test already fails on ordinary input {i} ({t.input[:200]}): "
                            "a failing input must be hard to find, not the common case"
                        ),
                    )
                )
        return out[:6]

    def truth(self, problem: Problem) -> Truth:
        """With f: the judge runs the wrapper (f and both checks are shown to the student)."""
        return super().truth(problem).model_copy(update={"program": problem.reference_solution})

    def simulated_answer(self, problem: Problem) -> str:
        """The right answer as a simulated student writes it: a JSON block."""
        return f"```json\n{dumps(problem.spec['witness'])}\n```"

    def task_prompt(self, problem: Problem) -> str:
        """f, pre_test and test; the answer is a JSON argument array."""
        return render(
            "student_fuzzing",
            message=problem.statement.strip(),
            program=problem.reference_solution.strip(),
            pre_test=str(problem.spec.get("pre_test", "")).strip(),
            test=str(problem.spec.get("test", "")).strip(),
            entry_point=problem.entry_point,
        )

    def answer(
        self, truth: Truth, reply: str, limits: ExecLimits | None = None
    ) -> Submission | None:
        """The wrapper run on the reply's arguments: passed iff it says `found`."""
        args = answer_args(reply, truth.entry_point)
        if args is None or truth.program is None:
            return None
        code = wrapped(
            truth.program, str(truth.spec.get("pre_test", "")), str(truth.spec.get("test", ""))
        )
        return Submission(
            code=code,
            entry_point=FUZZ_ENTRY,
            tests=[TestCase(input=args, expected=dumps(FOUND))],
            limits=limits_for(truth.time_limit_s, limits),
        )


FUZZING = register(FuzzingEnvironment())
