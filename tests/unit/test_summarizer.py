"""The performance summary the teacher reads."""

from stepstones.agents.summarizer import summarize
from stepstones.tools.schema import Attempt, Lineage, Problem, TestCase, TestOutcome, Verdict

P = Problem(statement="Double x.", tests=[TestCase(input="[2]", expected="4")],
            reference_solution="def solve(x):\n    return 2 * x\n", lineage=Lineage(seed_id="s"))


def _attempt(student: str, i: int, verdict: Verdict, code: str | None = "c") -> Attempt:
    return Attempt(problem_id=P.id, student=student, sample=i, code=code, verdict=verdict)


def test_summary_counts_and_examples() -> None:
    ok = Verdict(status="passed", passed=1, total=1)
    wrong = Verdict(status="wrong_answer", total=1, tests=[
        TestOutcome(index=0, status="wrong_answer", output="5", expected="4")])
    infra = Verdict(status="sandbox_error", error="worker died")
    attempts = [_attempt("a", 0, ok), _attempt("a", 1, wrong), _attempt("b", 0, wrong),
                _attempt("b", 1, infra), _attempt("b", 2, wrong, code=None)]
    s = summarize(P, attempts, ["a", "b"])
    assert s.pass_rate == 1 / 4  # the sandbox error is not counted against anyone
    by = {x.student: x for x in s.students}
    assert by["a"].pass_rate == 0.5 and by["b"].samples == 2
    assert s.failures == {"wrong_answer": 2, "no_code": 1}
    assert any("expected 4, got 5" in e for e in s.examples)
    assert "Overall pass rate: 25%" in s.text and "a: 1/2 passed" in s.text
