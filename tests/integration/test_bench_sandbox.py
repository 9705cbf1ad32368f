"""The sandbox benchmark runs at a tiny size and prints its figures, the pool's CPU cost with
them (the figures themselves are not judged: they depend on the machine)."""

from __future__ import annotations

import os
import re

from tests.conftest import eval_process, needs_bwrap, run_eval

TINY = ["--runs", "40", "--baseline-runs", "4", "--rounds", "2"]


@needs_bwrap
def test_the_benchmark_prints_rates_and_the_pools_cpu_per_verdict() -> None:
    out = run_eval("bench_sandbox", *TINY)
    rounds = re.findall(
        r"round (\d): pool (\d+\.\d) verdicts/s, plain bwrap (\d+\.\d) verdicts/s, (\d+\.\d)x", out
    )
    assert [n for n, *_ in rounds] == ["1", "2"], out
    for _, pool_n, plain_n, ratio_n in rounds:  # each round's ratio is of its own two rates
        assert float(pool_n) > 0 and float(plain_n) > 0
        assert abs(float(pool_n) / float(plain_n) - float(ratio_n)) <= 0.06, rounds
    pool = re.search(r"pre-forked pool : +(\d+\.\d) verdicts/s \(40 runs, median of 2\)", out)
    plain = re.search(
        r"plain bwrap +: +(\d+\.\d) verdicts/s \(4 runs, median of 2\), pool (\d+\.\d)x", out
    )
    assert pool and plain, out
    # The pool stands for the median round (of two: the faster), the ratio is the rounds' median.
    assert float(pool.group(1)) == max(float(p) for _, p, _, _ in rounds), (pool.group(0), rounds)
    ratios = sorted(float(p) / float(b) for _, p, b, _ in rounds)
    assert abs(float(plain.group(2)) - sum(ratios) / 2) <= 0.06, (plain.group(0), rounds)
    assert abs(float(plain.group(1)) - sum(float(b) for *_, b, _ in rounds) / 2) <= 0.06
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


def test_a_round_count_below_one_is_refused_before_anything_runs() -> None:
    done = eval_process("bench_sandbox", "--rounds", "0")
    assert done.returncode == 2
    assert "must be at least 1" in done.stderr, done.stderr[-2000:]
    assert "Traceback" not in done.stderr


@needs_bwrap
def test_the_stdio_style_runs_stdio_programs_in_the_pool_and_the_baseline() -> None:
    """`--style stdio` says so and both sides pass every verdict (each asserts its own)."""
    out = run_eval("bench_sandbox", "--runs", "20", "--baseline-runs", "4", "--rounds", "1",
                   "--style", "stdio")  # fmt: skip
    assert "4 stdio problems x 5 tests" in out, out
    assert re.search(r"round 1: pool \d+\.\d verdicts/s, plain bwrap \d+\.\d verdicts/s", out), out
