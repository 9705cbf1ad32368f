"""Early stop: a sample's run ends at its first failed test, and a stop can never fake a pass.

The host judges each streamed result frame as it arrives (expected outputs never enter the
jail) and asks the worker to stop the job once one test failed; the verdict then lists the tests
that ran. These tests pin what that saves, that it changes no pass/fail, and that a stop which
arrives late, early or for another job cannot turn into a pass.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator

import pytest

from stepstones.tools.sandbox.base import SandboxConfig, Submission
from stepstones.tools.sandbox.harness import frame_bytes, write_frame
from stepstones.tools.sandbox.judge import judge, make_job
from stepstones.tools.sandbox.local import LocalSandbox, _Worker, resolve_isolation
from stepstones.tools.schema import ExecLimits, TestCase, Verdict

pytestmark = pytest.mark.skipif(
    shutil.which("bwrap") is None,
    reason="the local sandbox needs bubblewrap: apt-get install bubblewrap",
)

LIMITS = ExecLimits(cpu_time_s=1.0, wall_time_s=3.0, memory_mb=256, output_bytes=100_000)
IDENTITY = [TestCase(input=f"[{i}]", expected=str(i)) for i in range(6)]
WRONG_THEN_HANG = (
    "def solve(x):\n    if x == 0:\n        return -1\n    while True:\n        pass\n"
)


@pytest.fixture(scope="module")
def sb() -> Iterator[LocalSandbox]:
    box = LocalSandbox(SandboxConfig(workers=2))
    yield box
    box.close()


def _sub(code: str, stop: bool, tests: list[TestCase] = IDENTITY, **kw: object) -> Submission:
    return Submission(code=code, tests=tests, limits=LIMITS, stop_on_failure=stop, **kw)


def test_a_decided_sample_stops_instead_of_burning_its_time_limit(sb: LocalSandbox) -> None:
    full, stopped = sb.run_sync([_sub(WRONG_THEN_HANG, False), _sub(WRONG_THEN_HANG, True)])
    assert full.status == "timeout" and full.cpu_s is not None and full.cpu_s >= 1.0
    assert stopped.status == "wrong_answer" and not stopped.ok
    assert [t.index for t in stopped.tests] == [0] and stopped.total == 6
    assert stopped.cpu_s is not None and stopped.cpu_s < 0.5
    assert stopped.error is not None and "tests 1-5 not judged" in stopped.error


@pytest.mark.parametrize(
    ("code", "io_style", "status"),
    [
        ("def solve(x):\n    return x", "function", "passed"),
        ("def solve(x):\n    return x if x < 3 else -x", "function", "wrong_answer"),
        ("def solve(x):\n    return x + 0 // (x - 5)", "function", "runtime_error"),
        ("def solve(x):\n    while True:\n        pass", "function", "timeout"),
        ("print(int(input()[1:-1]))", "stdio", "passed"),
        ("x = int(input()[1:-1])\nprint(x if x < 4 else 0)", "stdio", "wrong_answer"),
    ],
)
def test_stopping_changes_no_pass_or_fail(
    sb: LocalSandbox, code: str, io_style: str, status: str
) -> None:
    full, stopped = sb.run_sync(
        [_sub(code, False, io_style=io_style), _sub(code, True, io_style=io_style)]
    )
    assert full.status == status and stopped.status == status
    assert stopped.ok is full.ok

    # The tests that ran are judged alike; a stop only leaves the later ones out.
    def seen(v: Verdict) -> list[tuple[object, ...]]:
        return [(t.index, t.status, t.output, t.expected) for t in v.tests]

    assert seen(stopped) == seen(full)[: len(stopped.tests)]
    if status == "passed":
        assert len(stopped.tests) == 6
    else:  # decided at the first failure, however late the stop reached the job
        first = next(t.index for t in full.tests if t.status != "passed")
        assert len(stopped.tests) == first + 1


def test_the_host_stops_only_after_a_failed_test(sb: LocalSandbox) -> None:
    slow_then_wrong = (
        "import time\ndef solve(x):\n    time.sleep(0.05)\n    return x if x < 4 else 0"
    )
    (v,) = sb.run_sync([_sub(slow_then_wrong, True)])
    assert v.status == "wrong_answer" and v.passed == 4
    assert [t.status for t in v.tests] == ["passed"] * 4 + ["wrong_answer"]


@pytest.fixture()
def worker() -> Iterator[_Worker]:
    w = _Worker(resolve_isolation(SandboxConfig()), 64)
    w.start()
    yield w
    w.kill()


def _streamed(sub: Submission, job_id: int) -> dict[str, object]:
    job = make_job(sub, job_id)
    job["stream"] = True
    return job


def test_a_stale_stop_for_another_job_is_ignored(worker: _Worker) -> None:
    sub = _sub("import time\ndef solve(x):\n    time.sleep(0.02)\n    return x", True)
    write_frame(worker.control, {"stop": 4})  # a job that already ended, or never ran here
    write_frame(worker.control, {"stop": "5"})  # not the id: 5 is an int
    job = _streamed(sub, 5)
    nonce = worker.send(frame_bytes(job))
    answer = worker.receive(job, nonce, 10.0, sub)
    assert answer["killed"] is None
    assert judge(sub, answer, "test").status == "passed"


def test_a_stop_before_any_failure_can_never_make_a_pass(worker: _Worker) -> None:
    """Even a stop nobody should have sent (every test so far passed) fails the verdict."""
    sub = _sub("import time\ndef solve(x):\n    time.sleep(0.1)\n    return x", True)
    job = _streamed(sub, 7)
    nonce = worker.send(frame_bytes(job))
    time.sleep(0.25)
    write_frame(worker.control, {"stop": 7})
    answer = worker.receive(job, nonce, 10.0, None)  # no host judging: only the forced stop
    assert answer["killed"] == "stopped"
    verdict = judge(sub, answer, "test")
    assert not verdict.ok and verdict.status == "runtime_error"
    assert verdict.passed < 6 and verdict.tests[-1].status == "runtime_error"


def test_a_job_that_is_not_streamed_is_never_stopped(worker: _Worker) -> None:
    sub = _sub("import time\ndef solve(x):\n    time.sleep(0.05)\n    return x", False)
    job = make_job(sub, 9)
    nonce = worker.send(frame_bytes(job))
    write_frame(worker.control, {"stop": 9})
    answer = worker.receive(job, nonce, 10.0, sub)
    assert answer["killed"] is None and judge(sub, answer, "test").status == "passed"
