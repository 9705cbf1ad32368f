"""Sandbox throughput: isolated verdicts per second, pre-forked pool vs a fresh interpreter per run.

Both sides run the same harness under the same isolation (bubblewrap, rlimits, uid) with one
worker per core; the baseline starts a new jailed interpreter for every run, as a naive executor
would. Prints the figures with the machine they were measured on.

    python -m stepstones.evals.bench_sandbox [--runs 2000] [--baseline-runs 200]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

from stepstones.reporting.machine import machine_line
from stepstones.tools.sandbox.base import SandboxConfig, Submission
from stepstones.tools.sandbox.harness import read_frame, write_frame
from stepstones.tools.sandbox.judge import judge, make_job, seal
from stepstones.tools.sandbox.local import LocalSandbox, _bwrap_argv
from stepstones.tools.schema import TestCase

PROBLEMS = [
    ("def solve(a, b):\n    return a + b",
     [TestCase(input=f"[{i}, {i * 3}]", expected=str(i * 4)) for i in range(5)]),
    ("def solve(xs):\n    return sorted(xs)",
     [TestCase(input=f"[[{i}, 3, 1, 2]]", expected=str(sorted([i, 3, 1, 2]))) for i in range(5)]),
    ("def solve(s):\n    return s[::-1]",
     [TestCase(input=f'["abc{i}"]', expected=f'"{i}cba"') for i in range(5)]),
    ("def solve(n):\n    return sum(range(n))",
     [TestCase(input=f"[{n}]", expected=str(sum(range(n)))) for n in (10, 100, 1000, 5, 7)]),
]


def submissions(n: int) -> list[Submission]:
    """`n` submissions cycling over the problems (like k samples of several students)."""
    return [Submission(code=PROBLEMS[i % len(PROBLEMS)][0], tests=PROBLEMS[i % len(PROBLEMS)][1])
            for i in range(n)]


def bench_pool(subs: list[Submission]) -> tuple[float, str]:
    """Verdicts/s of the pre-forked pool (warm: workers started before timing)."""
    with LocalSandbox(SandboxConfig()) as box:
        box.run_sync(subs[: box.workers * 2])  # start the workers
        start = time.perf_counter()
        verdicts = box.run_sync(subs)
        elapsed = time.perf_counter() - start
        assert all(v.ok for v in verdicts), {v.status for v in verdicts}
        return len(subs) / elapsed, box.isolation


def _fresh(sub: Submission, uid: int) -> bool:
    proc = subprocess.Popen(_bwrap_argv(uid, 64), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            env={"PATH": "/usr/bin:/bin"})
    assert proc.stdin is not None and proc.stdout is not None
    read_frame(proc.stdout.fileno())  # ready
    write_frame(proc.stdin.fileno(), make_job(sub))
    write_frame(proc.stdin.fileno(), seal()[1])
    proc.stdin.close()
    answer = read_frame(proc.stdout.fileno())
    proc.wait()
    proc.stdout.close()
    return answer is not None and judge(sub, answer, "bwrap").ok


def bench_fresh(subs: list[Submission]) -> float:
    """Verdicts/s when every run starts a new jailed interpreter (one at a time per core)."""
    cores = os.cpu_count() or 1
    uids = [41000 + i for i in range(len(subs))]
    start = time.perf_counter()
    with ThreadPoolExecutor(cores) as pool:
        ok = list(pool.map(_fresh, subs, uids))
    elapsed = time.perf_counter() - start
    assert all(ok)
    return len(subs) / elapsed


def main() -> None:
    """Run both benchmarks and print verdicts/s, the speed-up and the machine."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--baseline-runs", type=int, default=200)
    args = parser.parse_args()
    pool, isolation = bench_pool(submissions(args.runs))
    fresh = bench_fresh(submissions(args.baseline_runs))
    print(f"machine: {machine_line()}")
    print(f"isolation: {isolation}; {len(PROBLEMS)} problems x 5 tests; one worker per core")
    print(f"pre-forked pool : {pool:8.1f} verdicts/s ({args.runs} runs)")
    print(f"fresh per run   : {fresh:8.1f} verdicts/s ({args.baseline_runs} runs)")
    print(f"speed-up        : {pool / fresh:8.1f}x")


if __name__ == "__main__":
    main()
