"""The performance summary the teacher reads."""

from stepstones.agents.summarizer import summarize
from stepstones.tools.schema import Attempt, Lineage, Problem, TestCase, TestOutcome, Verdict

P = Problem(
    statement="Double x.",
    tests=[TestCase(input="[2]", expected="4")],
    reference_solution="def solve(x):\n    return 2 * x\n",
    lineage=Lineage(seed_id="s"),
)


def _attempt(student: str, i: int, verdict: Verdict, code: str | None = "c") -> Attempt:
    return Attempt(problem_id=P.id, student=student, sample=i, code=code, verdict=verdict)


def test_summary_counts_and_examples() -> None:
    ok = Verdict(status="passed", passed=1, total=1)
    wrong = Verdict(
        status="wrong_answer",
        total=1,
        tests=[TestOutcome(index=0, status="wrong_answer", output="5", expected="4")],
    )
    infra = Verdict(status="sandbox_error", error="worker died")
    attempts = [
        _attempt("a", 0, ok),
        _attempt("a", 1, wrong),
        _attempt("b", 0, wrong),
        _attempt("b", 1, infra),
        _attempt("b", 2, wrong, code=None),
    ]
    s = summarize(P, attempts, ["a", "b"])
    assert s.pass_rate == 1 / 4  # the sandbox error is not counted against anyone
    by = {x.student: x for x in s.students}
    assert by["a"].pass_rate == 0.5 and by["b"].samples == 2
    assert s.failures == {"wrong_answer": 2, "no_code": 1}
    assert any("expected 4, got 5" in e for e in s.examples)
    assert "Overall pass rate: 25%" in s.text and "a: 1/2 passed" in s.text


def test_the_summary_shows_representative_solutions_as_the_paper_does() -> None:
    """The teacher sees passing and failing code, with the failing input, expected and got:
    here it can see that a trivial `return 4` passes its only test."""
    ok = Verdict(status="passed", passed=1, total=1)
    wrong = Verdict(
        status="wrong_answer",
        total=1,
        tests=[TestOutcome(index=0, status="wrong_answer", output="5", expected="4")],
    )
    trivial = "def solve(x):\n    return 4\n"
    long_wrong = "def solve(x):\n    return x + 3\n" + "# padding\n" * 500
    attempts = [
        _attempt("a", 0, ok, trivial),
        _attempt("a", 1, ok, trivial),
        _attempt("b", 0, ok, P.reference_solution),
        _attempt("b", 1, wrong, long_wrong),
        _attempt("c", 0, wrong, "def solve(x):\n    return 5\n"),
    ]
    s = summarize(P, attempts, ["a", "b", "c"])
    passed = [x for x in s.solutions if x.passed]
    failed = [x for x in s.solutions if not x.passed]
    assert [x.student for x in passed] == ["a", "b"]  # one per student first, distinct code
    assert [x.student for x in failed] == ["b", "c"]
    assert failed[0].failure == "input [2]: expected 4, got 5"
    assert len(failed[0].code) <= 1200
    assert "return 4" in s.text and "failed (input [2]: expected 4, got 5)" in s.text
    assert "Overall pass rate: 60% (3/5 samples, 95% interval 23%-88%)" in s.text


def test_a_pass_rate_interval_is_honest_at_the_edges() -> None:
    from stepstones.tools.schema import wilson_interval

    assert wilson_interval(0, 4)[0] == 0.0 and wilson_interval(0, 4)[1] > 0.4
    assert wilson_interval(32, 32)[1] == 1.0 and wilson_interval(32, 32)[0] > 0.88
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_with_a_target_student_its_pass_rate_is_the_difficulty() -> None:
    ok = Verdict(status="passed", passed=1, total=1)
    wrong = Verdict(
        status="wrong_answer",
        total=1,
        tests=[TestOutcome(index=0, status="wrong_answer", output="5", expected="4")],
    )
    attempts = [
        _attempt("policy", 0, ok),
        _attempt("policy", 1, wrong),
        _attempt("policy", 2, wrong),
        _attempt("policy", 3, wrong),
        _attempt("strong", 0, ok),
        _attempt("strong", 1, ok),
    ]
    pooled = summarize(P, attempts, ["policy", "strong"])
    targeted = summarize(P, attempts, ["policy", "strong"], target="policy")
    assert pooled.pass_rate == 0.5 and targeted.pass_rate == 0.25
    assert {s.student: s.pass_rate for s in targeted.students} == {"policy": 0.25, "strong": 1.0}
    assert targeted.text.startswith("policy's pass rate: 25% (1/4 samples")
    assert "- policy (target): 1/4 passed" in targeted.text
