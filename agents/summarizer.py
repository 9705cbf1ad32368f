"""The performance summary: what the teacher reads back after students attempt a problem.

Pass rate per student with its sample count and confidence interval, counts of each kind of
failure, a few telling errors or wrong outputs, and, as the paper's teacher sees them,
representative successful and failed solutions (bounded code, with the failing input, expected
and got), so the teacher can see for instance that trivial solutions pass.
The numbers are computed, never generated: they must be exact for band routing. The text is what
goes into the teacher's refine prompt; `LLMSummarizer` (optional) appends a model's reading of
the failures to it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage
from pydantic import Field

from stepstones.agents.models import ModelSettings
from stepstones.agents.parsing import ainvoke_parsed
from stepstones.agents.prompting import render
from stepstones.agents.usage import UsageMeter
from stepstones.tools.schema import (
    Attempt,
    PerformanceSummary,
    Problem,
    Record,
    ShownSolution,
    StudentStats,
    Verdict,
    wilson_interval,
)

MAX_EXAMPLES = 4
SHOWN_PER_OUTCOME = 2
"""Representative solutions shown: up to this many that passed and this many that failed."""
CODE_SHOWN = 1200
"""Characters of a shown solution's code."""


def _shown_failure(problem: Problem, verdict: Verdict) -> str | None:
    for test in verdict.tests:
        if test.status == "passed":
            continue
        given = problem.tests[test.index].input if 0 <= test.index < len(problem.tests) else "?"
        if test.status == "wrong_answer":
            return (
                f"input {given!s:.120}: expected {test.expected!s:.120}, got {test.output!s:.120}"
            )
        last = (test.error or "").strip().splitlines()[-1:] or [""]
        return f"input {given!s:.120}: {test.status} {last[0]:.160}".rstrip()
    return f"{verdict.status}: {verdict.error:.160}" if verdict.error else verdict.status


def representative(problem: Problem, attempts: Sequence[Attempt]) -> list[ShownSolution]:
    """Up to SHOWN_PER_OUTCOME distinct passing and failing solutions, from different students
    first, in attempt order (deterministic: the same attempts give the same summary)."""
    shown: list[ShownSolution] = []
    for passed in (True, False):
        pool = [a for a in attempts if a.code is not None and a.verdict.ok == passed]
        picked: list[Attempt] = []
        for first_pass in (True, False):  # one per student first, then any
            for a in pool:
                if len(picked) >= SHOWN_PER_OUTCOME:
                    break
                if a in picked or any(p.code == a.code for p in picked):
                    continue
                if first_pass and any(p.student == a.student for p in picked):
                    continue
                picked.append(a)
        shown.extend(
            ShownSolution(
                student=a.student,
                sample=a.sample,
                passed=passed,
                code=(a.code or "")[:CODE_SHOWN],
                failure=None if passed else _shown_failure(problem, a.verdict),
            )
            for a in picked
        )
    return shown


def _failure_kind(attempt: Attempt) -> str:
    return "no_code" if attempt.code is None else attempt.verdict.status


def _example(verdict: Verdict) -> str | None:
    for test in verdict.tests:
        if test.status == "passed":
            continue
        if test.status == "wrong_answer":
            return (
                f"wrong answer on test {test.index}: expected {test.expected!s:.80}, "
                f"got {test.output!s:.80}"
            )
        if test.error:
            last = test.error.strip().splitlines()[-1] if test.error.strip() else test.error
            return f"{test.status} on test {test.index}: {last:.160}"
        return f"{test.status} on test {test.index}"
    return f"{verdict.status}: {verdict.error:.160}" if verdict.error else None


def summarize(
    problem: Problem,
    attempts: Sequence[Attempt],
    students: Sequence[str],
    target: str | None = None,
) -> PerformanceSummary:
    """Summarise attempts (sandbox errors excluded: infrastructure is never a student's fault).

    The headline pass rate, which bands the problem, is the target student's when there is
    one, else pooled over every judged sample.
    """
    judged = [a for a in attempts if a.verdict.status != "sandbox_error"]
    stats = []
    all_failures: Counter[str] = Counter()
    for student in students:
        mine = [a for a in judged if a.student == student]
        passed = sum(a.verdict.ok for a in mine)
        failures = Counter(_failure_kind(a) for a in mine if not a.verdict.ok)
        all_failures.update(failures)
        stats.append(
            StudentStats(
                student=student,
                samples=len(mine),
                passed=passed,
                pass_rate=passed / len(mine) if mine else 0.0,
                failures=dict(failures),
            )
        )
    counted = [s for s in stats if target is None or s.student == target]
    total = sum(s.samples for s in counted)
    pass_rate = sum(s.passed for s in counted) / total if total else 0.0
    examples: list[str] = []
    for attempt in judged:
        if attempt.verdict.ok or len(examples) >= MAX_EXAMPLES:
            continue
        line = "no code in the reply" if attempt.code is None else _example(attempt.verdict)
        if line and line not in examples:
            examples.append(line)
    summary = PerformanceSummary(
        problem_id=problem.id,
        pass_rate=pass_rate,
        students=stats,
        failures=dict(all_failures),
        examples=examples,
        solutions=representative(problem, judged),
        target=target,
    )
    summary.text = render_summary(summary)
    return summary


def render_summary(summary: PerformanceSummary) -> str:
    """The summary as the teacher's prompt shows it."""
    counted = [s for s in summary.students if summary.target in (None, s.student)]
    passed = sum(s.passed for s in counted)
    samples = sum(s.samples for s in counted)
    lo, hi = wilson_interval(passed, samples)
    whose = f"{summary.target}'s pass rate" if summary.target else "Overall pass rate"
    lines = [
        f"{whose}: {summary.pass_rate:.0%} ({passed}/{samples} samples, "
        f"95% interval {lo:.0%}-{hi:.0%})"
    ]
    for s in summary.students:
        kinds = ", ".join(f"{k} x{v}" for k, v in sorted(s.failures.items())) or "no failures"
        mark = " (target)" if s.student == summary.target else ""
        lines.append(f"- {s.student}{mark}: {s.passed}/{s.samples} passed ({kinds})")
    if summary.examples:
        lines.append("Telling failures:")
        lines.extend(f"- {e}" for e in summary.examples)
    if summary.solutions:
        lines.append("Representative solutions:")
        for shown in summary.solutions:
            outcome = "passed" if shown.passed else f"failed ({shown.failure})"
            lines.append(f"- {shown.student}, sample {shown.sample}: {outcome}")
            lines.append(f"```python\n{shown.code.rstrip()}\n```")
    return "\n".join(lines)


class SummaryNotes(Record):
    """What an LLM summariser adds to the computed summary: reading, not numbers."""

    analysis: str = Field(min_length=1, max_length=2000)
    suggestions: list[str] = Field(default_factory=list, max_length=5)


class LLMSummarizer:
    """Adds a model's reading of the failures to the computed summary the teacher sees.

    The numbers stay computed (band routing depends on them); the model only writes prose on
    top. A reply that cannot be parsed leaves the computed summary as it is.
    """

    def __init__(
        self,
        name: str,
        model: BaseChatModel,
        meter: UsageMeter | None = None,
        settings: ModelSettings | None = None,
        prompts: Mapping[str, str] | None = None,
    ) -> None:
        self.prompts = dict(prompts or {})  # the run's overrides of agents/prompts/*.md
        self.name = name
        self.model = model
        self.meter = meter
        self.settings = settings

    def prompt(
        self, problem: Problem, attempts: Sequence[Attempt], summary: PerformanceSummary
    ) -> str:
        """The analysis request: statement, exact results and a few failing attempts."""
        failing = [a for a in attempts if not a.verdict.ok and a.code][: MAX_EXAMPLES - 1]
        shown = (
            "\n\n".join(
                f"{a.student} ({_example(a.verdict) or a.verdict.status}):\n```python\n"
                f"{(a.code or '')[:1500]}\n```"
                for a in failing
            )
            or "(none)"
        )
        return render(
            "summarizer_analyze",
            self.prompts,
            statement=problem.statement[:4000],
            results=summary.text,
            attempts=shown,
        )

    async def annotate(
        self, problem: Problem, attempts: Sequence[Attempt], summary: PerformanceSummary
    ) -> PerformanceSummary:
        """`summary` with the model's analysis and suggestions appended to its text."""
        notes, _failure = await ainvoke_parsed(
            self.model,
            [HumanMessage(self.prompt(problem, attempts, summary))],
            SummaryNotes,
            meter=self.meter,
            agent="summarizer",
            model_name=self.name,
            settings=self.settings,
        )
        if notes is None:
            return summary
        extra = [f"Analysis: {notes.analysis}"]
        extra += [f"- suggestion: {s[:300]}" for s in notes.suggestions]
        return summary.model_copy(update={"text": summary.text + "\n" + "\n".join(extra)})
