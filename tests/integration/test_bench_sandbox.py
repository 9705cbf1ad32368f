"""The sandbox benchmark runs at a tiny size and prints its figures, the pool's CPU cost with
them (the figures themselves are not judged: they depend on the machine)."""

from __future__ import annotations

import os
import re

from tests.conftest import eval_process, needs_bwrap, run_eval

TINY = ["--runs", "40", "--baseline-runs", "4"]


@needs_bwrap
def test_the_benchmark_prints_rates_and_the_pools_cpu_per_verdict() -> None:
    out = run_eval("bench_sandbox", *TINY)
    pool = re.search(r"pre-forked pool : +(\d+\.\d) verdicts/s \(40 runs\)", out)
    plain = re.search(r"plain bwrap +: +(\d+\.\d) verdicts/s \(4 runs\), pool (\d+\.\d)x", out)
    assert pool and plain, out
    assert float(pool.group(1)) > 0 and float(plain.group(1)) > 0
    ratio = float(pool.group(1)) / float(plain.group(1))
    assert abs(ratio - float(plain.group(2))) <= 0.06, (ratio, plain.group(0))
    cost = re.search(
        r"while it ran: cores (\d+)% busy, (\d+\.\d\d) ms of CPU per verdict "
        r"\(this process (\d+\.\d\d) ms\)",
        out,
    )
    assert cost, out
    busy, cpu_ms, host_ms = int(cost.group(1)), float(cost.group(2)), float(cost.group(3))
    assert 0 < busy <= 100
    assert host_ms > 0 and cpu_ms > 0
    # The whole machine's CPU includes this process's.
    assert host_ms <= cpu_ms + 0.01, (host_ms, cpu_ms)
    # Where the workers' own share went: their CPU and faults, and their children's.
    split = re.search(
        r"per verdict: fork servers (\d+\.\d\d) ms CPU, (\d+) page faults; "
        r"their children (\d+\.\d\d) ms, (\d+) faults",
        out,
    )
    assert split, out
    # Every fork faults in both processes; CPU ticks are coarse (10 ms), so only faults are sure.
    assert int(split.group(2)) > 0 and int(split.group(4)) > 0, split.group(0)


def test_without_bwrap_the_benchmark_says_so_instead_of_a_traceback() -> None:
    done = eval_process("bench_sandbox", *TINY, env={**os.environ, "PATH": "/nonexistent"})
    assert done.returncode != 0
    assert "bwrap (bubblewrap) is not on PATH" in done.stderr, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
