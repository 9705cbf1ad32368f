"""What an environment is: the teacher's rules and draft, gold by execution, validity, the
student's task and how an answer is judged.

The paper (arXiv 2603.24202, section 3.1, Table 1) frames every task as a teacher-student
environment in which the teacher writes programs and inputs and the sandbox computes every gold
answer. An `Environment` packs one such task format so the graph, bank, export and reward can
treat them alike: each turns a student's reply into a `Submission`, and the answer earns reward
1 exactly when the sandbox's verdict on it is `passed`. A new environment is a subclass passed
to `register`; nothing else changes.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from functools import cache
from importlib import resources
from string import Template
from typing import Any, ClassVar

from pydantic import Field

from stepstones.tools.environments.gold import execute
from stepstones.tools.sandbox.base import Sandbox, Submission
from stepstones.tools.sandbox.judge import outputs_match
from stepstones.tools.schema import (
    ExecLimits,
    IOStyle,
    Lineage,
    Problem,
    Record,
    Rejection,
    TestCase,
)

MAX_INPUTS = 60
"""Inputs a draft may carry (the paper's k is small; more only slows every student run)."""


@cache
def template(name: str) -> Template:
    """A prompt file beside this module (tools/environments/prompts/<name>.md)."""
    path = resources.files("stepstones.tools.environments").joinpath(f"prompts/{name}.md")
    return Template(path.read_text())


def render(name: str, **values: Any) -> str:
    """A prompt file filled with string.Template (prompts are full of code and {})."""
    return template(name).substitute(**values).strip()


class Truth(Record):
    """What re-judging an answer needs, for any environment: the export's ground truth.

    Field-compatible with `tools.export.GroundTruth` plus `environment`, `spec` and `program`,
    so a code problem's truth is today's. `program` is set only where the student is shown the
    program anyway and the judge runs it on the answer (abduction, fuzzing); the hidden
    reference of code and induction is never in it.
    """

    environment: str = "code"
    tests: list[TestCase]
    entry_point: str = "solve"
    io_style: IOStyle = "function"
    time_limit_s: float | None = None
    spec: dict[str, Any] = Field(default_factory=dict)
    program: str | None = None


def dumps(value: Any) -> str:
    """JSON text as the harness writes it (so a stored input is the one that was run)."""
    return json.dumps(value, ensure_ascii=False)


def same_value(a: Any, b: Any) -> bool:
    """Equal as the judge compares JSON values (bools are not ints, floats within 1e-9)."""
    return outputs_match(dumps(a), dumps(b), "function")


def json_tests(problem: Problem) -> tuple[list[Any], list[Any]] | None:
    """The tests' inputs and expected outputs as JSON values (None: one is not JSON, which only
    the gold re-run can judge: static checks then leave the problem to the sandbox)."""
    try:
        return (
            [json.loads(t.input) for t in problem.tests],
            [json.loads(t.expected) for t in problem.tests],
        )
    except (ValueError, RecursionError):
        return None


def is_identity(args: list[Any], output: Any) -> bool:
    """The output just repeats the input: the argument list, or the only argument."""
    return same_value(output, args) or (len(args) == 1 and same_value(output, args[0]))


def echoes_its_input(problem: Problem) -> bool:
    """The stored gold of the first test repeats its input (`is_identity`); False when the
    tests are not JSON, which the static checks leave to the sandbox."""
    data = json_tests(problem)
    if data is None:
        return False
    (args, *_), (output, *_) = data
    return is_identity(args, output)


class Environment(ABC):
    """One task format: teacher rules and draft, gold by execution, validity, student task."""

    name: ClassVar[str]
    draft_model: ClassVar[type[Record]]
    """The record the teacher writes: programs and inputs, never outputs."""

    def teacher_rules(self) -> str:
        """The rules the teacher is given for this environment (prompts/teacher_<name>.md); a
        subclass without a file of its own uses its parent's (override this to write new)."""
        folder = resources.files("stepstones.tools.environments").joinpath("prompts")
        for cls in type(self).__mro__:
            name = cls.__dict__.get("name")
            if isinstance(name, str) and folder.joinpath(f"teacher_{name}.md").is_file():
                return render(f"teacher_{name}")
        raise NotImplementedError(
            f"environment {self.name!r} has no teacher rules: override teacher_rules()"
        )

    @abstractmethod
    async def build(
        self, draft: Any, lineage: Lineage, sandbox: Sandbox
    ) -> Problem | list[Rejection]:
        """The problem of a draft, every gold answer computed by running its program; or why
        not (the program fails, is nondeterministic or returns no JSON value)."""

    def gold_program(self, problem: Problem) -> tuple[str, str]:
        """(code, entry point) whose outputs on the tests' inputs are their expected outputs."""
        return problem.reference_solution, problem.entry_point

    def static_checks(self, problem: Problem) -> list[Rejection]:
        """Why the problem is not a valid task, from its data alone (no sandbox; empty: none
        found). The critic asks this first, so a problem it rejects costs no verdict; the
        checks assume the stored gold, which `validate` re-runs. `validate` includes them.
        """
        if problem.environment != self.name:
            return [
                Rejection(
                    code="malformed",
                    message=(
                        f"a {problem.environment} problem given to the {self.name} environment"
                    ),
                )
            ]
        return []

    async def validate(self, problem: Problem, sandbox: Sandbox) -> list[Rejection]:
        """Why the problem is not a valid task of this environment (empty: valid).

        The base check re-runs the gold program: every expected output must be what it
        returns now, deterministically. Environments add their own triviality checks.
        """
        if problem.environment != self.name:
            return Environment.static_checks(self, problem)
        code, entry = self.gold_program(problem)
        run = await execute(
            sandbox,
            code,
            [t.input for t in problem.tests],
            entry_point=entry,
            io_style=problem.io_style,
            limits=limits_for(problem.time_limit_s),
        )
        if not run.ok:
            return run.rejections()
        wrong = [
            i
            for i, (t, o) in enumerate(zip(problem.tests, run.outputs, strict=True))
            if not outputs_match(o or "", t.expected, problem.io_style)
        ]
        if wrong:
            return [
                Rejection(
                    code="reference_fails",
                    message=(
                        f"the expected outputs of tests {wrong[:5]} are not what the program "
                        "returns: gold answers must come from running it"
                    ),
                )
            ]
        return []

    def system_prompt(self) -> str:
        """The student's system message (the reply form)."""
        return render("student_answer_system")

    @abstractmethod
    def task_prompt(self, problem: Problem) -> str:
        """The student's task: what it is shown and what to answer."""

    def simulated_answer(self, problem: Problem) -> str:
        """The reply of a simulated student that got `problem` right (simulation mode): here
        the reference in a code block; environments whose answer is data override it."""
        return f"```python\n{problem.reference_solution}\n```"

    def truth(self, problem: Problem) -> Truth:
        """What the export stores to re-judge answers to `problem`."""
        return Truth(
            environment=self.name,
            tests=problem.tests,
            entry_point=problem.entry_point,
            io_style=problem.io_style,
            time_limit_s=problem.time_limit_s,
            spec=problem.spec,
        )

    @abstractmethod
    def answer(
        self, truth: Truth, reply: str, limits: ExecLimits | None = None
    ) -> Submission | None:
        """The sandbox job that judges `reply` (passed = reward 1); None: no usable answer."""

    def submission(
        self, problem: Problem, reply: str, limits: ExecLimits | None = None
    ) -> Submission | None:
        """`answer` against the problem's own truth."""
        return self.answer(self.truth(problem), reply, limits)


def limits_for(time_limit_s: float | None, base: ExecLimits | None = None) -> ExecLimits:
    """`base` (default limits) with a problem's calibrated CPU time, if it has one."""
    lim = base or ExecLimits()
    return lim if time_limit_s is None else lim.model_copy(update={"cpu_time_s": time_limit_s})


def input_texts(inputs: list[Any], io_style: IOStyle) -> list[str]:
    """A draft's inputs as `TestCase.input` texts: JSON argument arrays, or stdin as written."""
    return [x if io_style == "stdio" else dumps(x) for x in inputs]


ENVIRONMENTS: dict[str, Environment] = {}
"""Registered environments by name; the built-in five are registered by the package."""


def register(env: Environment) -> Environment:
    """Add an environment to the registry (a name may be registered once)."""
    if env.name in ENVIRONMENTS and ENVIRONMENTS[env.name] is not env:
        raise ValueError(f"an environment named {env.name!r} is already registered")
    ENVIRONMENTS[env.name] = env
    return env


def get_environment(name: str) -> Environment:
    """The registered environment called `name`; a ValueError names the known ones."""
    import stepstones.tools.environments  # noqa: F401  (registers the built-in five)

    try:
        return ENVIRONMENTS[name]
    except KeyError:
        known = ", ".join(sorted(ENVIRONMENTS))
        raise ValueError(f"unknown environment {name!r}; choose one of {known}") from None
