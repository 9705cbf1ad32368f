"""Calibrated limits judge the solution, not the machine: 3x slower passes, 50x slower fails,
and a CPU hog running beside the sandbox changes neither verdict (the limit is CPU time)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator

import pytest

from stepstones.tools.sandbox.base import SandboxConfig, Submission
from stepstones.tools.sandbox.calibrate import calibrate
from stepstones.tools.sandbox.local import LocalSandbox
from stepstones.tools.schema import Lineage, Problem, TestCase

pytestmark = pytest.mark.skipif(
    shutil.which("bwrap") is None,
    reason="the local sandbox needs bubblewrap: apt-get install bubblewrap",
)

WORK = 60_000  # loop iterations per test for the reference: ~10 ms of CPU per test here


def _solution(factor: int) -> str:
    return (
        f"def solve(n):\n    t = 0\n    for i in range(n * {factor}):\n        t += i % 7\n"
        "    return n"
    )


PROBLEM = Problem(
    statement="Return n, after some honest work.",
    reference_solution=_solution(1),
    tests=[TestCase(input=f"[{WORK}]", expected=str(WORK))] * 5,
    lineage=Lineage(seed_id="calibration"),
)
CONFIG = SandboxConfig(workers=2, time_floor_s=0.05, time_multiplier=8.0)


@pytest.fixture
def cpu_hog() -> Iterator[None]:
    """One busy process per core, beside (not inside) the sandbox."""
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
    yield
    for proc in procs:
        proc.kill()
        proc.wait()


async def _verdicts() -> tuple[float, list[str]]:
    box = LocalSandbox(CONFIG)
    try:
        ref, limit = await calibrate(box, PROBLEM, CONFIG)
        assert ref.ok and limit is not None, ref.error
        timed = PROBLEM.model_copy(update={"time_limit_s": limit})
        verdicts = await box.run([Submission.for_problem(timed, _solution(f)) for f in (3, 50)])
        for v in verdicts:
            assert v.limits is not None and v.limits.cpu_time_s == limit
        return limit, [v.status for v in verdicts]
    finally:
        await box.aclose()


async def test_3x_slower_passes_50x_slower_fails() -> None:
    limit, statuses = await _verdicts()
    assert limit > CONFIG.time_floor_s, "the reference must cost more than the floor"
    assert statuses == ["passed", "timeout"]


async def test_same_verdicts_under_a_cpu_hog(cpu_hog: None) -> None:
    _, statuses = await _verdicts()
    assert statuses == ["passed", "timeout"]
