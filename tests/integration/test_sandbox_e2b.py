"""The E2B backend through the real e2b-code-interpreter SDK, against a local stand-in of E2B."""

from __future__ import annotations

import json
import os
import struct
import time
from collections.abc import Iterator

import pytest

from stepstones.tools.sandbox import get_sandbox
from stepstones.tools.sandbox.base import E2BConfig, SandboxConfig, Submission
from stepstones.tools.sandbox.e2b import E2BSandbox, E2BUnavailable
from stepstones.tools.schema import ExecLimits, TestCase
from tests.integration.e2b_standin import E2BStandIn

pytest.importorskip("e2b_code_interpreter", reason="needs the e2b extra")

ADD = [TestCase(input="[1, 2]", expected="3"), TestCase(input="[4, 4]", expected="8")]
GOOD = "def solve(a, b):\n    return a + b"
LIMITS = ExecLimits(cpu_time_s=0.3, wall_time_s=2.0)


def _sandbox(**e2b: object) -> E2BSandbox:
    box = get_sandbox(SandboxConfig(backend="e2b", e2b=E2BConfig(**e2b)))  # type: ignore[arg-type]
    assert isinstance(box, E2BSandbox)
    box.backoff_base_s = 0.01  # keep CI fast; the jittered schedule is the same
    return box


@pytest.fixture
def standin(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[E2BStandIn]:
    """A stand-in E2B with the SDK pointed at it; parametrise with (capacity, drop_creates)."""
    capacity, drop = getattr(request, "param", (20, 0))
    with E2BStandIn(capacity=capacity, drop_creates=drop) as server:
        monkeypatch.setenv("E2B_API_URL", server.url)
        monkeypatch.setenv("E2B_SANDBOX_URL", server.url)
        monkeypatch.setenv("E2B_API_KEY", "e2b_standin_key")
        monkeypatch.delenv("E2B_DEBUG", raising=False)
        monkeypatch.delenv("E2B_DOMAIN", raising=False)
        yield server


async def test_verdict_kinds_and_pool_reuse(standin: E2BStandIn) -> None:
    box = _sandbox(max_concurrent=2)
    codes = {
        "passed": GOOD,
        "wrong_answer": "def solve(a, b):\n    return a - b",
        "runtime_error": "def solve(a, b):\n    raise ValueError(a)",
        "timeout": "def solve(a, b):\n    while True:\n        pass",
    }
    subs = [Submission(code=c, tests=ADD, limits=LIMITS) for c in codes.values()] * 3
    verdicts = await box.run(subs)
    assert [v.status for v in verdicts] == list(codes) * 3
    assert verdicts[0].isolation == box.isolation and verdicts[0].limits == LIMITS
    # Pooled and reused, not created per job: beyond the two, a box is made only to replace one
    # the pool killed (an execution that failed, e.g. timed out on a loaded machine; the job's
    # verdict, checked above, still came from a second box).
    assert standin.created == 2 + standin.killed and standin.killed <= 2, (
        standin.created,
        standin.killed,
    )
    await box.aclose()
    assert standin.kernels == {}


@pytest.mark.parametrize("standin", [(3, 2)], indirect=True)
async def test_backpressure_loses_nothing(standin: E2BStandIn) -> None:
    """Capacity 3 (429 past it) and two dropped creates: every verdict still correct."""
    box = _sandbox(max_concurrent=6)
    subs = [Submission(code=GOOD, tests=ADD, limits=LIMITS)] * 24
    verdicts = await box.run(subs)
    assert {v.status for v in verdicts} == {"passed"}
    assert standin.dropped == 2 and standin.refused >= 1 and standin.peak <= 3
    await box.aclose()


async def test_concurrency_is_bounded(standin: E2BStandIn) -> None:
    box = _sandbox(max_concurrent=3)
    verdicts = await box.run([Submission(code=GOOD, tests=ADD, limits=LIMITS)] * 15)
    assert all(v.ok for v in verdicts) and standin.peak <= 3
    await box.aclose()


@pytest.mark.parametrize("standin", [(0, 0)], indirect=True)
async def test_quota_exhausted_is_a_clear_sandbox_error(standin: E2BStandIn) -> None:
    box = _sandbox(max_concurrent=4, max_retries=3)
    start = time.monotonic()
    verdicts = await box.run([Submission(code=GOOD, tests=ADD, limits=LIMITS)] * 10)
    assert {v.status for v in verdicts} == {"sandbox_error"}, "never a student failure"
    assert all("could not get an E2B sandbox" in (v.error or "") for v in verdicts)
    assert "429" in (verdicts[0].error or "")
    assert time.monotonic() - start < 10


def test_missing_api_key_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("E2B_API_KEY", raising=False)
    with pytest.raises(E2BUnavailable, match="E2B_API_KEY"):
        get_sandbox(SandboxConfig(backend="e2b"))


FORGED = (
    "import json, os, struct\n"
    "def _forge():\n"
    "    body = json.dumps({'id': 1, 'results': [{'i': 0, 's': 'ok', 'o': '3', 'e': None,"
    " 'c': 0}, {'i': 1, 's': 'ok', 'o': '8', 'e': None, 'c': 0}], 'exit': 0,"
    " 'killed': None, 'cpu': 0.0, 'wall': 0.0}).encode()\n"
    "    frame = struct.pack('>I', len(body)) + body\n"
    "    for pid in [os.getppid()] + [p for p in os.listdir('/proc') if p.isdigit()]:\n"
    "        for fd in range(0, 12):\n"
    "            try:\n"
    "                f = os.open(f'/proc/{pid}/fd/{fd}', os.O_WRONLY | os.O_NONBLOCK)\n"
    "                os.write(f, frame)\n"
    "            except OSError:\n"
    "                pass\n"
)
"""A solution that writes a passing answer frame into every pipe it can open (harness stdout)."""
WRONG = "def solve(a, b):\n    return a - b"


async def test_class1_forged_answer_frames_never_judge_another_job(standin: E2BStandIn) -> None:
    box = _sandbox(max_concurrent=1)
    hostile = FORGED + "def solve(a, b):\n    _forge()\n    return a - b"
    verdicts = [
        (await box.run([Submission(code=c, tests=ADD, limits=LIMITS)]))[0]
        for c in (GOOD, hostile, WRONG, WRONG)
    ]
    assert [v.status for v in verdicts] == [
        "passed",
        "wrong_answer",
        "wrong_answer",
        "wrong_answer",
    ]
    await box.aclose()


@pytest.mark.skipif(os.geteuid() != 0, reason="writes into the harness's pipe through /proc")
async def test_class1_a_stale_answer_is_a_discarded_box(standin: E2BStandIn) -> None:
    """A frame already waiting in the harness's stdout (written here, from outside, as only an
    escaped solution could) fails the nonce check: the box is thrown away, the job rerun."""
    box = _sandbox(max_concurrent=1)
    (first,) = await box.run([Submission(code=GOOD, tests=ADD, limits=LIMITS)])
    assert first.ok
    (kernel,) = standin.kernels.values()
    body = json.dumps(
        {
            "id": 1,
            "results": [
                {"i": 0, "s": "ok", "o": "3", "e": None, "c": 0},
                {"i": 1, "s": "ok", "o": "8", "e": None, "c": 0},
            ],
            "exit": 0,
            "killed": None,
            "cpu": 0.0,
            "wall": 0.0,
        }
    ).encode()
    with open(f"/proc/{kernel['_ss'].pid}/fd/1", "wb", buffering=0) as pipe:
        pipe.write(struct.pack(">I", len(body)) + body)
    (wrong,) = await box.run([Submission(code=WRONG, tests=ADD, limits=LIMITS)])
    assert wrong.status == "wrong_answer"
    assert standin.created == 2, "the box that held a forged answer was discarded"
    await box.aclose()
