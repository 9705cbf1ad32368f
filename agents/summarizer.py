"""The performance summary: what the teacher reads back after students attempt a problem.

Pass rate per student, counts of each kind of failure and a few telling errors or wrong outputs.
The numbers are computed, never generated: they must be exact for band routing. The text is what
goes into the teacher's refine prompt; `LLMSummarizer` (optional) appends a model's reading of
the failures to it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

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
    StudentStats,
    Verdict,
)

MAX_EXAMPLES = 4


def _failure_kind(attempt: Attempt) -> str:
    return "no_code" if attempt.code is None else attempt.verdict.status


def _example(verdict: Verdict) -> str | None:
    for test in verdict.tests:
        if test.status == "passed":
            continue
        if test.status == "wrong_answer":
            return (f"wrong answer on test {test.index}: expected {test.expected!s:.80}, "
                    f"got {test.output!s:.80}")
        if test.error:
            last = test.error.strip().splitlines()[-1] if test.error.strip() else test.error
            return f"{test.status} on test {test.index}: {last:.160}"
        return f"{test.status} on test {test.index}"
    return f"{verdict.status}: {verdict.error:.160}" if verdict.error else None


def summarize(problem: Problem, attempts: Sequence[Attempt], students: Sequence[str]) -> (
    PerformanceSummary
):
    """Summarise attempts (sandbox errors excluded: infrastructure is never a student's fault)."""
    judged = [a for a in attempts if a.verdict.status != "sandbox_error"]
    stats = []
    all_failures: Counter[str] = Counter()
    for student in students:
        mine = [a for a in judged if a.student == student]
        passed = sum(a.verdict.ok for a in mine)
        failures = Counter(_failure_kind(a) for a in mine if not a.verdict.ok)
        all_failures.update(failures)
        stats.append(StudentStats(
            student=student, samples=len(mine), passed=passed,
            pass_rate=passed / len(mine) if mine else 0.0, failures=dict(failures)))
    total = sum(s.samples for s in stats)
    pass_rate = sum(s.passed for s in stats) / total if total else 0.0
    examples: list[str] = []
    for attempt in judged:
        if attempt.verdict.ok or len(examples) >= MAX_EXAMPLES:
            continue
        line = "no code in the reply" if attempt.code is None else _example(attempt.verdict)
        if line and line not in examples:
            examples.append(line)
    summary = PerformanceSummary(problem_id=problem.id, pass_rate=pass_rate, students=stats,
                                 failures=dict(all_failures), examples=examples)
    summary.text = render_summary(summary)
    return summary


def render_summary(summary: PerformanceSummary) -> str:
    """The summary as the teacher's prompt shows it."""
    lines = [f"Overall pass rate: {summary.pass_rate:.0%}"]
    for s in summary.students:
        kinds = ", ".join(f"{k} x{v}" for k, v in sorted(s.failures.items())) or "no failures"
        lines.append(f"- {s.student}: {s.passed}/{s.samples} passed ({kinds})")
    if summary.examples:
        lines.append("Telling failures:")
        lines.extend(f"- {e}" for e in summary.examples)
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

    def __init__(self, name: str, model: BaseChatModel, meter: UsageMeter | None = None,
                 settings: ModelSettings | None = None) -> None:
        self.name = name
        self.model = model
        self.meter = meter
        self.settings = settings

    def prompt(self, problem: Problem, attempts: Sequence[Attempt],
               summary: PerformanceSummary) -> str:
        """The analysis request: statement, exact results and a few failing attempts."""
        failing = [a for a in attempts if not a.verdict.ok and a.code][:MAX_EXAMPLES - 1]
        shown = "\n\n".join(
            f"{a.student} ({_example(a.verdict) or a.verdict.status}):\n```python\n"
            f"{(a.code or '')[:1500]}\n```" for a in failing) or "(none)"
        return render("summarizer_analyze", statement=problem.statement[:4000],
                      results=summary.text, attempts=shown)

    async def annotate(self, problem: Problem, attempts: Sequence[Attempt],
                       summary: PerformanceSummary) -> PerformanceSummary:
        """`summary` with the model's analysis and suggestions appended to its text."""
        notes, _failure = await ainvoke_parsed(
            self.model, [HumanMessage(self.prompt(problem, attempts, summary))], SummaryNotes,
            meter=self.meter, agent="summarizer", model_name=self.name,
            settings=self.settings)
        if notes is None:
            return summary
        extra = [f"Analysis: {notes.analysis}"]
        extra += [f"- suggestion: {s[:300]}" for s in notes.suggestions]
        return summary.model_copy(update={"text": summary.text + "\n" + "\n".join(extra)})
