"""Host-side judging: turn what a sandbox reported into a `Verdict`.

The sandbox only ever receives code and test inputs (`make_job`). Whatever comes back is treated
as the solution's claim about its own outputs; the comparison with expected outputs happens here,
in the host process, so a solution that forges frames, exits early or patches the harness can at
best report outputs it could also have returned honestly.
"""

from __future__ import annotations

import json
import math
import signal
from typing import Any

from stepstones.tools.sandbox.base import Submission
from stepstones.tools.schema import TestOutcome, Verdict, VerdictStatus

SEVERITY: dict[VerdictStatus, int] = {
    "passed": 0,
    "wrong_answer": 1,
    "runtime_error": 2,
    "output_limit": 3,
    "memory_exceeded": 4,
    "timeout": 5,
    "sandbox_error": 6,
}
"""Order used to pick a verdict's status: the worst outcome of any test wins."""

SHOWN_CHARS = 1000
"""Outputs and expected values are truncated to this many characters in verdicts."""

_CHILD_STATUSES = {"ok", "runtime_error", "memory_exceeded", "output_limit"}


def make_job(sub: Submission, job_id: str | int = 0) -> dict[str, Any]:
    """The job frame a harness receives: code and inputs only, never expected outputs."""
    return {
        "id": job_id,
        "code": sub.code,
        "inputs": [t.input for t in sub.tests],
        "entry_point": sub.entry_point,
        "io_style": sub.io_style,
        "limits": sub.limits.model_dump(),
    }


def _same_json(a: Any, b: Any) -> bool:
    """Structural equality where `true != 1` but `2 == 2.0` and floats compare with tolerance."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        if isinstance(a, float) or isinstance(b, float):
            return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
        return a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same_json(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same_json(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def _stdio_lines(text: str) -> list[str]:
    lines = [line.rstrip() for line in text.splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def outputs_match(output: str, expected: str, io_style: str) -> bool:
    """Whether a produced output equals the expected one under the problem's I/O convention.

    Function style compares JSON values (so formatting never matters); stdio compares lines with
    trailing whitespace and trailing blank lines ignored.
    """
    if io_style == "stdio":
        return _stdio_lines(output) == _stdio_lines(expected)
    try:
        return _same_json(json.loads(output), json.loads(expected))
    except ValueError:
        return False


def _short(text: str | None) -> str | None:
    if text is None or len(text) <= SHOWN_CHARS:
        return text
    return text[:SHOWN_CHARS] + f"... [{len(text) - SHOWN_CHARS} more chars]"


def sandbox_error(sub: Submission, message: str, isolation: str) -> Verdict:
    """An infrastructure failure: never the solution's fault, never a reward."""
    return Verdict(
        status="sandbox_error",
        total=len(sub.tests),
        error=message[:2000],
        isolation=isolation,
        limits=sub.limits,
    )


def _accepted(results: list[Any], n: int) -> tuple[list[dict[str, Any]], str | None]:
    """Result frames in order; stops at the first frame that breaks the protocol."""
    good: list[dict[str, Any]] = []
    for r in results:
        if len(good) == n:
            return good, "more result frames than tests"
        if not (
            isinstance(r, dict)
            and r.get("i") == len(good)
            and r.get("s") in _CHILD_STATUSES
            and isinstance(r.get("o"), str | None)
            and isinstance(r.get("e"), str | None)
        ):
            return good, f"malformed result frame for test {len(good)}"
        good.append(r)
    return good, None


def _missing_status(answer: dict[str, Any], limit_cpu: float) -> tuple[VerdictStatus, str]:
    """Why tests have no result: a limit the harness enforced, or the process dying early."""
    killed = answer.get("killed")
    exit_code = answer.get("exit")
    cpu = float(answer.get("cpu") or 0.0)
    if killed == "cpu" or exit_code == -signal.SIGXCPU or cpu > limit_cpu:
        return "timeout", f"CPU time limit of {limit_cpu:g}s exceeded"
    if killed == "wall":
        return "timeout", "wall-clock time limit exceeded"
    if killed == "output":
        return "output_limit", "output limit exceeded"
    if isinstance(exit_code, int) and exit_code < 0:
        name = signal.Signals(-exit_code).name if -exit_code in signal.valid_signals() else "?"
        return "runtime_error", f"killed by signal {name} before producing all results"
    return "runtime_error", f"process exited (code {exit_code}) before producing all results"


def judge(sub: Submission, answer: dict[str, Any], isolation: str) -> Verdict:
    """Compare a harness answer with the submission's expected outputs, on the host."""
    if "error" in answer:
        return sandbox_error(sub, str(answer["error"]), isolation)
    raw = answer.get("results")
    results = raw if isinstance(raw, list) else []
    n = len(sub.tests)
    good, tamper = _accepted(results, n)
    limit_cpu = sub.limits.cpu_time_s
    cpu = float(answer.get("cpu") or 0.0)
    tests: list[TestOutcome] = []
    for i, case in enumerate(sub.tests):
        if i < len(good):
            r = good[i]
            status: VerdictStatus
            if r["s"] == "ok":
                out = r["o"] if isinstance(r["o"], str) else ""
                status = "passed" if outputs_match(out, case.expected, sub.io_style) else (
                    "wrong_answer")
                error = None if status == "passed" else "output differs from expected"
            else:
                status, error = r["s"], r.get("e")
            c = r.get("c")
            tests.append(TestOutcome(
                index=i, status=status, output=_short(r.get("o")), expected=_short(case.expected),
                error=error, cpu_s=float(c) if isinstance(c, int | float) else None))
        else:
            status, error = (("runtime_error", f"result stream tampered: {tamper}") if tamper
                             else _missing_status(answer, limit_cpu))
            tests.append(TestOutcome(index=i, status=status, expected=_short(case.expected),
                                     error=error))
    overall: VerdictStatus = max((t.status for t in tests), key=SEVERITY.__getitem__,
                                 default="passed")
    error = next((f"test {t.index}: {t.error}" for t in tests if t.status == overall
                  and t.status != "passed"), None)
    if tamper and SEVERITY[overall] < SEVERITY["runtime_error"]:
        overall, error = "runtime_error", f"result stream tampered: {tamper}"
    if cpu > limit_cpu and SEVERITY[overall] < SEVERITY["timeout"]:
        # The CPU limit covers the whole run: finishing just past it is still too slow.
        overall, error = "timeout", f"CPU time {cpu:.3f}s over the limit of {limit_cpu:g}s"
    wall = answer.get("wall")
    return Verdict(
        status=overall,
        passed=sum(t.status == "passed" for t in tests),
        total=n,
        tests=tests,
        error=error,
        isolation=isolation,
        limits=sub.limits,
        cpu_s=round(cpu, 6),
        wall_s=round(float(wall), 6) if isinstance(wall, int | float) else None,
    )
