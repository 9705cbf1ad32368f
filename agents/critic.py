"""The critic: rejects invalid problems with reasons the teacher can act on.

Checks are a rubric of small named functions, each returning a `Rejection` or None, in two
stages by cost. The cheap stage needs no sandbox: trivial solutions the tests' data already
accept, near-duplicates in the bank, a statement that leaks the reference, overlap with public
benchmarks (and, outside `code`, the environment's static checks). A problem it rejects never
reaches the sandbox: in a run with generous quotas most drafts are duplicates, and each costs
a fraction of a millisecond here against ~16 sandbox verdicts (the reference a few times,
trivial and known wrong solutions, mutants). Every cheap reason is reported together; the
sandbox's reasons come only for a problem with none, so a critique holds reasons of one stage.
An optional LLM reviews the statement of a problem that passes both. Infrastructure failure
raises `InfraError`: it is never the problem's fault.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage
from pydantic import Field

from stepstones.agents.models import ModelSettings
from stepstones.agents.parsing import ainvoke_parsed
from stepstones.agents.prompting import render
from stepstones.agents.usage import UsageMeter
from stepstones.tools.decontam import BenchmarkIndex, contaminated
from stepstones.tools.dedup import NearDupIndex, problem_text
from stepstones.tools.environments import SandboxFailure, get_environment
from stepstones.tools.mutate import mutants, trivial_solutions, trivially_passing
from stepstones.tools.sandbox.base import Sandbox, SandboxConfig, Submission
from stepstones.tools.sandbox.calibrate import calibrate
from stepstones.tools.schema import Critique, Problem, Record, Rejection, Verdict


class InfraError(RuntimeError):
    """The sandbox (not the problem) failed; the graph retries the node or the run stops."""


@dataclass
class Evidence:
    """What the rubric judges: sandbox verdicts and lookups for one problem."""

    problem: Problem
    reference: list[Verdict]
    trivial: dict[str, Verdict] = field(default_factory=dict)
    wrong: dict[str, Verdict] = field(default_factory=dict)
    mutants: list[Verdict] = field(default_factory=list)
    duplicates: list[tuple[str, float]] = field(default_factory=list)
    contamination: tuple[str, float] | None = None
    min_kill_rate: float = 0.5


Check = Callable[[Evidence], Rejection | None]


def _first_failure(verdict: Verdict) -> str:
    for t in verdict.tests:
        if t.status != "passed":
            got = t.output if t.status == "wrong_answer" else (t.error or t.status)
            return f"test {t.index}: expected {t.expected!s:.120}, got {got!s:.160}"
    return verdict.error or verdict.status


def reference_passes(ev: Evidence) -> Rejection | None:
    """The reference solution must pass every one of its own tests."""
    first = ev.reference[0]
    if first.ok:
        return None
    return Rejection(
        code="reference_fails",
        message=(
            f"the reference solution fails its own tests ({first.status}, {first.passed}/"
            f"{first.total} passed); first failure: {_first_failure(first)}. Fix the expected "
            "outputs or the reference."
        ),
    )


def deterministic(ev: Evidence) -> Rejection | None:
    """Every run of the reference must agree (a passing first run and a failing later one)."""
    if not ev.reference[0].ok or all(v.ok for v in ev.reference):
        return None
    return Rejection(
        code="nondeterministic",
        message=(
            "the reference passes on one run and fails on another: its output depends on "
            "randomness, time, hashing order or the machine. Make it deterministic."
        ),
    )


def tests_discriminate(ev: Evidence) -> Rejection | None:
    """Trivial and known wrong solutions must fail, and most mutants of the reference too."""
    if not ev.reference[0].ok:
        return None
    escaped = [name for name, v in ev.trivial.items() if v.ok]
    escaped += [f"known bug '{kind}'" for kind, v in ev.wrong.items() if v.ok]
    if escaped:
        return _accepts_wrong(escaped)
    if ev.mutants:
        killed = sum(not v.ok for v in ev.mutants)
        rate = killed / len(ev.mutants)
        if rate < ev.min_kill_rate:
            return Rejection(
                code="weak_tests",
                message=(
                    f"only {killed} of {len(ev.mutants)} small mutations of the reference (flipped "
                    "comparisons, changed operators, constants off by one) fail the tests. Add "
                    "boundary and edge-case tests."
                ),
            )
    return None


def _accepts_wrong(escaped: list[str]) -> Rejection:
    return Rejection(
        code="weak_tests",
        message=(
            "the tests accept solutions that are wrong: "
            + ", ".join(escaped)
            + ". Add tests (edge cases, varied expected values) that these fail."
        ),
    )


def tests_reject_constants(ev: Evidence) -> Rejection | None:
    """The tests' data must already fail every trivial solution (a constant, the input echoed):
    decided without running them, so weak tests cost no sandbox verdict."""
    escaped = trivially_passing(ev.problem.tests, ev.problem.io_style)
    return _accepts_wrong(escaped) if escaped else None


def not_duplicate(ev: Evidence) -> Rejection | None:
    """The problem must not be a near-duplicate of one already in the bank."""
    if not ev.duplicates:
        return None
    other, sim = ev.duplicates[0]
    return Rejection(
        code="duplicate",
        message=(
            f"near-duplicate of problem {other} (similarity {sim:.2f}). Change the task itself, "
            "not only names or numbers."
        ),
    )


def _substantive_lines(code: str) -> list[str]:
    out = []
    for line in code.splitlines():
        s = " ".join(line.split())
        if len(s) >= 12 and not s.startswith(("#", "import ", "from ", '"""', "'''")):
            out.append(s)
    return out


def no_leak(ev: Evidence) -> Rejection | None:
    """The statement must not contain the reference solution's code."""
    lines = _substantive_lines(ev.problem.reference_solution)
    statement = " ".join(ev.problem.statement.split())
    leaked = [s for s in lines if s in statement]
    if lines and (len(leaked) >= 3 or len(leaked) >= max(1, len(lines) // 2)):
        return Rejection(
            code="leaks_solution",
            message=(
                f"the statement contains {len(leaked)} lines of the reference solution (e.g. "
                f"{leaked[0]!r}). Describe the task, not its solution."
            ),
        )
    return None


def not_contaminated(ev: Evidence) -> Rejection | None:
    """The problem must not overlap a public benchmark (it would leak into evaluation)."""
    if ev.contamination is None:
        return None
    task, score = ev.contamination
    return Rejection(
        code="contaminated",
        message=(
            f"overlaps public benchmark problem {task} (score {score:.2f}). Write a different task."
        ),
    )


CHEAP_RUBRIC: tuple[Check, ...] = (
    tests_reject_constants,
    not_duplicate,
    no_leak,
    not_contaminated,
)
"""Checks on the problem's data and the lookups alone: they run first, before any sandbox."""

SANDBOX_RUBRIC: tuple[Check, ...] = (reference_passes, deterministic, tests_discriminate)
"""Checks on sandbox verdicts: only for a problem the cheap checks let through."""


class StatementReview(Record):
    """The reply an LLM critic must give."""

    valid: bool
    reasons: list[str] = Field(default_factory=list)


@cache
def _humaneval() -> BenchmarkIndex:
    return BenchmarkIndex.humaneval()


class Critic:
    """Executable checks plus an optional LLM statement review."""

    def __init__(
        self,
        sandbox: Sandbox,
        sandbox_config: SandboxConfig,
        *,
        mutant_count: int = 6,
        min_kill_rate: float = 0.5,
        determinism_runs: int = 2,
        benchmark: BenchmarkIndex | bool | None = True,
        model: BaseChatModel | None = None,
        meter: UsageMeter | None = None,
        model_name: str = "",
        settings: ModelSettings | None = None,
        prompts: Mapping[str, str] | None = None,
    ) -> None:
        self.prompts = dict(prompts or {})  # the run's overrides of agents/prompts/*.md
        self.sandbox = sandbox
        self.sandbox_config = sandbox_config
        self.mutant_count = mutant_count
        self.min_kill_rate = min_kill_rate
        self.determinism_runs = determinism_runs
        self._benchmark = benchmark
        self.model = model
        self.settings = settings
        self.meter = meter
        self.model_name = model_name or (type(model).__name__ if model is not None else "")

    def benchmark(self) -> BenchmarkIndex | None:
        """The decontamination index (HumanEval by default), loaded on first use."""
        if self._benchmark is True:
            self._benchmark = _humaneval()
        return self._benchmark or None

    async def _run(self, subs: Sequence[Submission]) -> list[Verdict]:
        verdicts = await self.sandbox.run(list(subs))
        broken = [v for v in verdicts if v.status == "sandbox_error"]
        if broken:
            raise InfraError(f"sandbox failed while checking a problem: {broken[0].error}")
        return verdicts

    async def gather(self, ev: Evidence) -> float | None:
        """Run the reference, then the wrong solutions, in the sandbox, into `ev` (which holds
        the lookups already); the calibrated time limit, or None if the reference fails."""
        problem = ev.problem
        first, limit = await calibrate(self.sandbox, problem, self.sandbox_config)
        if first.status == "sandbox_error":
            raise InfraError(f"sandbox failed on the reference: {first.error}")
        ev.reference = [first]
        timed = problem.model_copy(update={"time_limit_s": limit})
        if first.ok:
            extra = self.determinism_runs - 1
            trivial = trivial_solutions(problem.entry_point, problem.io_style)
            muts = [code for _, code in mutants(problem.reference_solution, self.mutant_count)]
            codes = (
                [problem.reference_solution] * extra
                + list(trivial.values())
                + list(problem.wrong_solutions.values())
                + muts
            )
            # Only the reference's reruns need every output; the rest only pass or fail.
            verdicts = await self._run(
                [
                    Submission.for_problem(timed, c).model_copy(
                        update={"stop_on_failure": n >= extra}
                    )
                    for n, c in enumerate(codes)
                ]
            )
            ev.reference += verdicts[:extra]
            rest = verdicts[extra:]
            ev.trivial = dict(zip(trivial, rest[: len(trivial)], strict=True))
            rest = rest[len(trivial) :]
            n_wrong = len(problem.wrong_solutions)
            ev.wrong = dict(zip(problem.wrong_solutions, rest[:n_wrong], strict=True))
            ev.mutants = rest[n_wrong:]
        return limit if first.ok else None

    async def look_up(self, problem: Problem, dedup: NearDupIndex, exclude: set[str]) -> Evidence:
        """Evidence without a sandbox: near-duplicates in the bank, overlap with the benchmark."""
        ev = Evidence(problem=problem, reference=[], min_kill_rate=self.min_kill_rate)
        ev.duplicates = dedup.query(problem_text(ev.problem), exclude=exclude)
        # The first use reads the benchmark file (off the event loop); later ones cost nothing,
        # so they skip the hop to a worker thread, which is dearer than the lookup.
        index = (
            self.benchmark()
            if self._benchmark is not True
            else await asyncio.to_thread(self.benchmark)
        )
        ev.contamination = contaminated(ev.problem, index) if index is not None else None
        return ev

    async def _statement_review(self, problem: Problem) -> list[Rejection]:
        if self.model is None:
            return []
        shown = {
            "title": problem.title,
            "statement": problem.statement,
            "tests": [t.model_dump() for t in problem.tests[:8]],
        }
        prompt = render("critic_review", self.prompts, problem=json.dumps(shown))
        review, failure = await ainvoke_parsed(
            self.model,
            [HumanMessage(prompt)],
            StatementReview,
            meter=self.meter,
            agent="critic",
            model_name=self.model_name,
            settings=self.settings,
        )
        if review is None:
            # Not a pass: the review was asked for and not given. A recorded rejection the
            # teacher is told about, counted in the report, like a malformed teacher reply.
            reason = failure.reason if failure else "no reply"
            message = f"the critic's statement review was unusable: {reason}"
            return [Rejection(code="critic_unusable", message=message[:500])]
        if review.valid:
            return []
        reasons = review.reasons or ["the reviewer found the statement unclear"]
        return [Rejection(code="unclear_statement", message=r[:500]) for r in reasons[:3]]

    async def _review_environment(
        self, problem: Problem, dedup: NearDupIndex, exclude: set[str]
    ) -> Critique:
        """A problem of another environment: its static checks with the duplicate and
        benchmark-leak checks first, then (only if none rejects) its validity checks in the
        sandbox (gold re-run, not trivial, witnesses confirmed).

        The code rubric's mutants and trivial solutions judge code against tests; an answer
        that is a value or an input has the environment's own triviality checks instead."""
        env = get_environment(problem.environment)
        ev = await self.look_up(problem, dedup, exclude)
        rejections = env.static_checks(problem) + [
            r for check in (not_duplicate, not_contaminated) if (r := check(ev)) is not None
        ]
        if rejections:
            return Critique(valid=False, rejections=rejections)
        try:
            rejections = await env.validate(problem, self.sandbox)
        except SandboxFailure as exc:
            raise InfraError(f"sandbox failed validating the problem: {exc}") from exc
        if not rejections:
            rejections = await self._statement_review(problem)
        return Critique(valid=not rejections, rejections=rejections)

    async def review(
        self, problem: Problem, dedup: NearDupIndex, exclude: set[str] | None = None
    ) -> Critique:
        """Judge a problem against `dedup` (the run's accepted problems) minus `exclude`.

        A problem the cheap checks reject has no reference verdict and no time limit: it
        never ran.

        The problem's own id is not excluded: the same problem accepted before is a duplicate.
        A replayed turn that meets itself in the bank is the caller's to exclude (the graph
        excludes what was accepted in the round being replayed).
        """
        if problem.environment != "code":
            return await self._review_environment(problem, dedup, exclude or set())
        ev = await self.look_up(problem, dedup, exclude or set())
        rejections = [r for check in CHEAP_RUBRIC if (r := check(ev)) is not None]
        if rejections:
            return Critique(valid=False, rejections=rejections)
        limit = await self.gather(ev)
        rejections = [r for check in SANDBOX_RUBRIC if (r := check(ev)) is not None]
        if not rejections:
            rejections = await self._statement_review(problem)
        return Critique(
            valid=not rejections,
            rejections=rejections,
            reference_verdict=ev.reference[0],
            time_limit_s=limit,
        )
