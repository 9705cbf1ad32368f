"""Host-side judging: turn what a sandbox reported into a `Verdict`.

The sandbox only ever receives code and test inputs (`make_job`). Whatever comes back is treated
as the solution's claim about its own outputs; the comparison with expected outputs happens here,
in the host process, so a solution that forges frames, exits early or patches the harness can at
best report outputs it could also have returned honestly. Every answer is bound to its job by the
job id and a per-job nonce (`seal`) that no solution process ever holds.

Judging is total: whatever a solution made the sandbox report (3000-deep JSON, 10**400 against a
float, a frame with a list for a status), `judge` returns that job's verdict and never raises.
"""

from __future__ import annotations

import json
import math
import secrets
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
    job: dict[str, Any] = {
        "id": job_id,
        "code": sub.code,
        "inputs": [t.input for t in sub.tests],
        "entry_point": sub.entry_point,
        "io_style": sub.io_style,
        "limits": sub.limits.model_dump(),
        "tmp_bytes": max(64 << 20, 2 * sub.limits.output_bytes + (64 << 20)),
    }
    if sub.check is not None:
        job["check"] = sub.check
    return job


def seal() -> tuple[str, dict[str, str]]:
    """A fresh per-job nonce and the frame that carries it, sent right after the job frame.

    The fork server reads it only after every process of the job is dead, so a solution that
    writes a well-formed answer into the server's stdout cannot know what to put in it.
    """
    nonce = secrets.token_hex(16)
    return nonce, {"nonce": nonce}


def answer_binding(answer: dict[str, Any], job_id: str | int, nonce: str) -> str | None:
    """Why `answer` is not the answer to this job (a reason), or None when it is."""
    if answer.get("id") != job_id:
        return f"answer for job {str(answer.get('id'))[:40]!r} instead of {job_id!r}"
    if not (isinstance(answer.get("nonce"), str)
            and secrets.compare_digest(str(answer["nonce"]), nonce)):  # fmt: skip
        return "answer does not carry this job's nonce"
    return None


_TOLERANCE = 1e-9


def _same_number(out: int | float, exp: int | float) -> bool:
    """Exact for integer expectations (`3.0000000012 != 3`, `1e18 != 10**18 + 1`); a relative
    and absolute tolerance of 1e-9 only when the expected value is a float."""
    if isinstance(exp, int):
        return out == exp  # int == float is exact in Python, never rounded
    try:
        return math.isclose(float(out), exp, rel_tol=_TOLERANCE, abs_tol=_TOLERANCE)
    except OverflowError:  # an int too large for a float is not close to any float
        return False


def _same_json(out: Any, exp: Any) -> bool:
    """Structural equality, iterative (no depth limit), typed by the expected value: bools,
    strings and None exactly, ints exactly, floats with tolerance, containers element-wise."""
    stack = [(out, exp)]
    while stack:
        a, b = stack.pop()
        if isinstance(b, bool) or isinstance(a, bool):
            if not (type(a) is bool and type(b) is bool and a == b):
                return False
        elif isinstance(b, int | float) and isinstance(a, int | float):
            if not _same_number(a, b):
                return False
        elif isinstance(b, list):
            if not (isinstance(a, list) and len(a) == len(b)):
                return False
            stack.extend(zip(a, b, strict=True))
        elif isinstance(b, dict):
            if not (isinstance(a, dict) and a.keys() == b.keys()):
                return False
            stack.extend((a[k], b[k]) for k in b)
        elif not (type(a) is type(b) and a == b):
            return False
    return True


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
    except (ValueError, RecursionError, MemoryError, OverflowError, TypeError):
        return False  # undecodable (too deep, too large) is not the expected value


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
            and type(r.get("i")) is int
            and r.get("i") == len(good)
            and type(r.get("s")) is str
            and r.get("s") in _CHILD_STATUSES
            and isinstance(r.get("o"), str | None)
            and isinstance(r.get("e"), str | None)
        ):
            return good, f"malformed result frame for test {len(good)}"
        good.append(r)
    return good, None


def decided_failure(sub: Submission, result: dict[str, Any]) -> bool:
    """Whether one streamed result frame already fails `sub` (so its other tests can stop).

    Only a failure decides: a test that passed never stops a run, so stopping can end a verdict
    early but never turn it into a pass. A frame that breaks the protocol fails too (the final
    answer's judging calls it tampering).
    """
    if not sub.stops_early:
        return False
    i = result.get("i")
    if "bad" in result or type(i) is not int or not 0 <= i < len(sub.tests):
        return True
    return result.get("s") != "ok" or not _matches(result, sub.tests[i].expected, sub.io_style)


def _matches(result: dict[str, Any], expected: str, io_style: str) -> bool:
    """Whether an "ok" result frame's output is the expected one (no output: the empty one)."""
    out = result.get("o")
    return outputs_match(out if isinstance(out, str) else "", expected, io_style)


def _seconds(value: Any) -> float:
    """A CPU or wall time from an answer; anything but a finite number counts as 0."""
    if type(value) not in (int, float) or not math.isfinite(value):
        return 0.0
    return float(value)


def _missing_status(answer: dict[str, Any], limit_cpu: float) -> tuple[VerdictStatus, str]:
    """Why tests have no result: a limit the harness enforced, or the process dying early."""
    killed = answer.get("killed")
    exit_code = answer.get("exit")
    cpu = _seconds(answer.get("cpu"))
    if killed == "cpu" or exit_code == -signal.SIGXCPU or cpu > limit_cpu:
        return "timeout", f"CPU time limit of {limit_cpu:g}s exceeded"
    if killed == "wall":
        return "timeout", "wall-clock time limit exceeded"
    if killed == "output":
        return "output_limit", "output limit exceeded"
    if type(exit_code) is int and exit_code < 0:
        name = signal.Signals(-exit_code).name if -exit_code in signal.valid_signals() else "?"
        return "runtime_error", f"killed by signal {name} before producing all results"
    return "runtime_error", f"process exited (code {exit_code}) before producing all results"


def judge(sub: Submission, answer: dict[str, Any], isolation: str) -> Verdict:
    """Compare a harness answer with the submission's expected outputs, on the host.

    Never raises: an answer that cannot be judged is the job's runtime_error (the fork server
    and the backends already turned their own failures into `error` answers).
    """
    try:
        return _judge(sub, answer, isolation)
    except Exception as exc:
        return Verdict(
            status="runtime_error",
            total=len(sub.tests),
            isolation=isolation,
            limits=sub.limits,
            error=f"unjudgeable output: {type(exc).__name__}",
        )


def _judge(sub: Submission, answer: dict[str, Any], isolation: str) -> Verdict:
    if "error" in answer:
        return sandbox_error(sub, str(answer["error"]), isolation)
    raw = answer.get("results")
    results = raw if isinstance(raw, list) else []
    n = len(sub.tests)
    good, tamper = _accepted(results, n)
    limit_cpu = sub.limits.cpu_time_s
    cpu = _seconds(answer.get("cpu"))
    tests: list[TestOutcome] = []
    for i, case in enumerate(sub.tests):
        if i < len(good):
            r = good[i]
            status: VerdictStatus
            c = r.get("c")
            cpu_i = _seconds(c) if type(c) in (int, float) else None
            if r["s"] == "ok" and sub.record_outputs:  # a gold run: keep the output whole
                tests.append(TestOutcome(index=i, status="passed", output=r["o"], cpu_s=cpu_i))
                continue
            if r["s"] == "ok":
                status = "passed" if _matches(r, case.expected, sub.io_style) else "wrong_answer"
                # a check-style test reports why its assert failed; keep that for the summary
                error = (
                    None
                    if status == "passed"
                    else (_short(r.get("e")) or "output differs from expected")
                )
            else:
                status, error = r["s"], r.get("e")
            tests.append(
                TestOutcome(
                    index=i,
                    status=status,
                    output=_short(r.get("o")),
                    expected=_short(case.expected),
                    error=error,
                    cpu_s=cpu_i,
                )
            )
        else:
            status, error = (
                ("runtime_error", f"result stream tampered: {tamper}")
                if tamper
                else _missing_status(answer, limit_cpu)
            )
            tests.append(
                TestOutcome(index=i, status=status, expected=_short(case.expected), error=error)
            )
    if sub.stop_on_failure and not tamper:
        # Decided at the first failure: what ran after it (or was cut short by the host's stop)
        # depends on when the stop arrived, so it is left out, whether or not one was sent.
        first = next((k for k, t in enumerate(tests) if t.status != "passed"), len(tests))
        del tests[first + 1 :]
    overall: VerdictStatus = max(
        (t.status for t in tests), key=SEVERITY.__getitem__, default="passed"
    )
    error = next(
        (
            f"test {t.index}: {t.error}"
            for t in tests
            if t.status == overall and t.status != "passed"
        ),
        None,
    )
    if len(tests) < n and error is not None:
        error += f" (decided there: tests {len(tests)}-{n - 1} not judged)"
    if tamper and SEVERITY[overall] < SEVERITY["runtime_error"]:
        overall, error = "runtime_error", f"result stream tampered: {tamper}"
    if cpu > limit_cpu and SEVERITY[overall] < SEVERITY["timeout"]:
        # The CPU limit covers the whole run: finishing just past it is still too slow.
        overall, error = "timeout", f"CPU time {cpu:.3f}s over the limit of {limit_cpu:g}s"
    wall = answer.get("wall") if type(answer.get("wall")) in (int, float) else None
    return Verdict(
        status=overall,
        passed=sum(t.status == "passed" for t in tests),
        total=n,
        tests=tests,
        error=error,
        isolation=isolation,
        limits=sub.limits,
        cpu_s=round(cpu, 6),
        wall_s=round(_seconds(wall), 6) if wall is not None else None,
    )
