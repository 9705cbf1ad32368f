"""Host-side judging: comparisons, status precedence and tamper handling, with no sandbox."""

from __future__ import annotations

import signal

import pytest

from stepstones.tools.sandbox.base import Submission
from stepstones.tools.sandbox.judge import (
    answer_binding,
    decided_failure,
    judge,
    make_job,
    outputs_match,
    seal,
)
from stepstones.tools.schema import ExecLimits, TestCase

TESTS = [TestCase(input="[1, 2]", expected="3"), TestCase(input="[2, 2]", expected="4")]
SUB = Submission(
    code="def solve(a, b): return a + b", tests=TESTS, limits=ExecLimits(cpu_time_s=1.0)
)


def _ok(i: int, out: str) -> dict[str, object]:
    return {"i": i, "s": "ok", "o": out, "e": None, "c": 0.001}


def _answer(results: list[object], **kw: object) -> dict[str, object]:
    return {"id": 0, "results": results, "exit": 0, "killed": None, "cpu": 0.01, "wall": 0.02, **kw}


def test_job_never_carries_expected_outputs() -> None:
    job = make_job(SUB)
    assert "3" not in str(job["inputs"]) and "expected" not in str(job)


@pytest.mark.parametrize(
    ("out", "exp", "style", "same"),
    [
        ("3", "3.0", "function", True),
        ("true", "1", "function", False),
        ("[1, 2]", "[1,2]", "function", True),
        ("0.30000000000000004", "0.3", "function", True),
        ('{"a": 1}', '{"a": 1, "b": 2}', "function", False),
        ("not json", "1", "function", False),
        ("1 2  \n3\n\n", "1 2\n3", "stdio", True),
        ("1 2\n", "1  2\n", "stdio", False),
    ],
)
def test_outputs_match(out: str, exp: str, style: str, same: bool) -> None:
    assert outputs_match(out, exp, style) is same


def test_passed_and_wrong_answer() -> None:
    assert judge(SUB, _answer([_ok(0, "3"), _ok(1, "4")]), "x").status == "passed"
    v = judge(SUB, _answer([_ok(0, "3"), _ok(1, "5")]), "x")
    assert (v.status, v.passed, v.total) == ("wrong_answer", 1, 2)
    assert v.tests[1].expected == "4" and v.isolation == "x" and v.limits == SUB.limits


def test_worst_outcome_wins() -> None:
    err = {"i": 1, "s": "memory_exceeded", "o": None, "e": "MemoryError", "c": 0.0}
    assert judge(SUB, _answer([_ok(0, "9"), err]), "x").status == "memory_exceeded"


def test_missing_results_are_not_passes() -> None:
    assert judge(SUB, _answer([_ok(0, "3")]), "x").status == "runtime_error"
    assert judge(SUB, _answer([], killed="cpu"), "x").status == "timeout"
    assert judge(SUB, _answer([], killed="wall"), "x").status == "timeout"
    assert judge(SUB, _answer([], killed="output"), "x").status == "output_limit"
    assert judge(SUB, _answer([], exit=-signal.SIGXCPU), "x").status == "timeout"


def test_cpu_over_limit_is_timeout_even_with_all_outputs() -> None:
    v = judge(SUB, _answer([_ok(0, "3"), _ok(1, "4")], cpu=1.5), "x")
    assert v.status == "timeout" and not v.ok


@pytest.mark.parametrize(
    "frames",
    [
        [_ok(1, "4"), _ok(0, "3")],  # out of order
        [_ok(0, "3"), _ok(0, "3"), _ok(1, "4")],  # duplicate
        [_ok(0, "3"), {"i": 1, "s": "passed", "o": "4"}],  # invented status
        [_ok(0, "3"), _ok(1, "4"), _ok(2, "5")],  # extra frame
        [{"bad": "xx"}],
    ],
)
def test_tampered_streams_never_pass(frames: list[object]) -> None:
    assert judge(SUB, _answer(frames), "x").status != "passed"


def test_infrastructure_error_is_sandbox_error() -> None:
    v = judge(SUB, {"id": 0, "error": "worker: OSError"}, "x")
    assert v.status == "sandbox_error" and v.passed == 0


@pytest.mark.parametrize(
    ("out", "exp", "same"),
    [
        ("3.0000000012", "3", False),  # class 1: an int answer is never approximate
        ("1e18", str(10**18 + 1), False),
        (str(10**18 + 1), "1e18", True),  # a float answer keeps its tolerance
        ("3.0", "3", True),  # exactly the same number
        ("1", "true", False),
        ("true", "true", True),
        ('"3"', "3", False),
        ("[1, 2.0000000001]", "[1, 2]", False),
        ("[1, 2.0000000001]", "[1, 2.0]", True),
        ('{"a": 1.0000001}', '{"a": 1}', False),
        ("null", "null", True),
    ],
)
def test_tolerance_is_for_float_answers_only(out: str, exp: str, same: bool) -> None:
    assert outputs_match(out, exp, "function") is same


def test_stdio_compares_text_exactly() -> None:
    assert not outputs_match("3.0000000012\n", "3\n", "stdio")
    assert not outputs_match("3.0\n", "3\n", "stdio")


HOSTILE_RESULTS = {
    "deep_output": [_ok(0, "[" * 3000 + "]" * 3000), _ok(1, "4")],
    "huge_int_vs_float": [_ok(0, str(10**400)), _ok(1, "4")],
    "unhashable_status": [{"i": 0, "s": ["ok"], "o": "3", "e": None, "c": 0}],
    "bool_index": [{"i": False, "s": "ok", "o": "3", "e": None, "c": 0}],
    "odd_types": [{"i": 0, "s": "ok", "o": "3", "e": None, "c": "fast"}, _ok(1, "5")],
}


@pytest.mark.parametrize("name", list(HOSTILE_RESULTS))
def test_judging_never_raises_and_never_passes_hostile_results(name: str) -> None:
    sub = (
        SUB
        if name != "huge_int_vs_float"
        else SUB.model_copy(update={"tests": [TestCase(input="[1, 2]", expected="3.5"), TESTS[1]]})
    )
    v = judge(sub, _answer(HOSTILE_RESULTS[name]), "x")
    assert v.status not in ("passed", "sandbox_error"), v.error


def test_garbage_answer_fields_are_a_verdict_not_an_exception() -> None:
    v = judge(
        SUB,
        {
            "id": 0,
            "results": [_ok(0, "3"), _ok(1, "4")],
            "cpu": [1],
            "wall": {},
            "exit": "x",
            "killed": ["cpu"],
        },
        "x",
    )
    assert v.status == "passed" and v.cpu_s == 0.0
    v = judge(SUB, {"id": 0, "results": "nope", "cpu": float("nan")}, "x")
    assert v.status == "runtime_error"


def test_answers_are_bound_to_their_job_and_nonce() -> None:
    nonce, frame = seal()
    assert frame == {"nonce": nonce} and len(nonce) == 32 and seal()[0] != nonce
    assert answer_binding({"id": 7, "nonce": nonce}, 7, nonce) is None
    assert answer_binding({"id": 6, "nonce": nonce}, 7, nonce)
    assert answer_binding({"id": 7, "nonce": "0" * 32}, 7, nonce)
    assert answer_binding({"id": 7}, 7, nonce)
    assert answer_binding({"id": 7, "nonce": ["x"]}, 7, nonce)


def test_only_a_failed_test_decides_a_stop() -> None:
    stop = SUB.model_copy(update={"stop_on_failure": True})
    assert not decided_failure(stop, _ok(0, "3"))
    assert decided_failure(stop, _ok(0, "4"))
    assert decided_failure(stop, {"i": 1, "s": "runtime_error", "o": None, "e": "x", "c": 0.0})
    assert decided_failure(stop, {"bad": "malformed result frame"})
    assert decided_failure(stop, _ok(2, "3"))  # no such test: the stream is broken
    assert not decided_failure(SUB, _ok(0, "4"))  # not asked for: every test runs
    gold = stop.model_copy(update={"record_outputs": True})
    assert not decided_failure(gold, _ok(0, "4"))


def test_a_stopped_answer_lists_the_tests_that_ran_and_never_passes() -> None:
    stop = SUB.model_copy(update={"stop_on_failure": True})
    wrong = judge(stop, _answer([_ok(0, "5")], killed="stopped", exit=-9), "t")
    assert wrong.status == "wrong_answer" and len(wrong.tests) == 1 and wrong.total == 2
    assert wrong.error is not None and "tests 1-1 not judged" in wrong.error
    # a stop with no failure among the results ran (never sent by the host) still fails
    forced = judge(stop, _answer([_ok(0, "3")], killed="stopped", exit=-9), "t")
    assert forced.status == "runtime_error" and len(forced.tests) == 2
    # a stop the submission did not ask for leaves the missing tests failed, as before
    unasked = judge(SUB, _answer([_ok(0, "5")], killed="stopped", exit=-9), "t")
    assert len(unasked.tests) == 2 and not unasked.ok


def test_a_decided_verdict_ends_at_its_first_failure_however_late_the_stop() -> None:
    """Tests that finished while the stop was on its way do not change the verdict."""
    tests = [TestCase(input=f"[{i}, 0]", expected=str(i)) for i in range(4)]
    stop = Submission(code="x", tests=tests, stop_on_failure=True)
    crash = {"i": 2, "s": "runtime_error", "o": None, "e": "ZeroDivisionError", "c": 0.0}
    early = judge(stop, _answer([_ok(0, "0"), _ok(1, "7")], killed="stopped", exit=-9), "t")
    late = judge(stop, _answer([_ok(0, "0"), _ok(1, "7"), crash, _ok(3, "3")]), "t")
    for v in (early, late):
        assert v.status == "wrong_answer" and v.passed == 1 and len(v.tests) == 2
    assert early.error == late.error
