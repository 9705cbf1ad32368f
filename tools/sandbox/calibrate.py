"""Per-problem time limits from the reference solution's measured cost on this host.

A fixed time limit judges the machine as much as the solution: the same code passes on a fast
host and times out on a loaded one. Scaling the limit from the reference's CPU time (CPU, not
wall, so a busy neighbour does not move it) with a floor keeps verdicts machine-independent while
still failing solutions that are asymptotically slower (evalplus does the same).
"""

from __future__ import annotations

from stepstones.tools.sandbox.base import Sandbox, SandboxConfig, Submission
from stepstones.tools.schema import Problem, Verdict


def limit_from(measured_s: float, config: SandboxConfig) -> float:
    """The CPU-time limit for a problem whose reference used `measured_s` seconds."""
    limit: float = round(max(config.time_floor_s, config.time_multiplier * measured_s), 3)
    return limit


async def calibrate(
    sandbox: Sandbox, problem: Problem, config: SandboxConfig
) -> tuple[Verdict, float | None]:
    """Run the reference once under generous limits; return its verdict and the calibrated limit.

    The limit is `max(time_floor_s, time_multiplier * reference CPU seconds)`, or None when the
    reference did not pass (nothing to calibrate against). The verdict records the limits the
    reference itself ran under.
    """
    sub = Submission.for_problem(problem, problem.reference_solution, limits=config.limits)
    (verdict,) = await sandbox.run([sub])
    if not verdict.ok:
        return verdict, None
    measured = verdict.cpu_s if verdict.cpu_s is not None else verdict.wall_s
    if measured is None:
        return verdict, None
    return verdict, limit_from(measured, config)
