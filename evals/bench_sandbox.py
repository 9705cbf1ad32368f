"""Sandbox throughput: isolated verdicts per second, pre-forked pool vs a process per verdict.

Two baselines, one at a time per core. "plain bwrap" is what a naive executor does: one
`bwrap --unshare-all ... python -I -S` per verdict, running the solution on every input and
printing the outputs, which the host compares. "fresh harness" starts our own fork server in our
own jail for every verdict (its preloads and handshake included), so it isolates the cost of
starting a worker. Prints the figures with the machine they were measured on, and where the
pool's CPU went while it ran (how busy the cores were, CPU per verdict, the host's share): what
a faster pool would have to cut.

The pool and the plain baseline alternate for `--rounds` rounds, and the speed-up is the median
of the rounds' own ratios: on a shared VM the machine's speed drifts by 10-20% within a minute,
and a pool measured in a fast minute against a baseline measured in a slow one (or the reverse)
would move the ratio by as much.

    python -m stepstones.evals.bench_sandbox [--runs 2000] [--baseline-runs 200] [--rounds 3]
        [--style function|stdio]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from stepstones.reporting.machine import machine_line
from stepstones.tools.sandbox.base import SandboxConfig, Submission
from stepstones.tools.sandbox.harness import read_frame, write_frame
from stepstones.tools.sandbox.judge import judge, make_job, outputs_match, seal
from stepstones.tools.sandbox.local import LocalSandbox, _bwrap_argv
from stepstones.tools.schema import IOStyle, TestCase

PROBLEMS = [
    (
        "def solve(a, b):\n    return a + b",
        [TestCase(input=f"[{i}, {i * 3}]", expected=str(i * 4)) for i in range(5)],
    ),
    (
        "def solve(xs):\n    return sorted(xs)",
        [TestCase(input=f"[[{i}, 3, 1, 2]]", expected=str(sorted([i, 3, 1, 2]))) for i in range(5)],
    ),
    (
        "def solve(s):\n    return s[::-1]",
        [TestCase(input=f'["abc{i}"]', expected=f'"{i}cba"') for i in range(5)],
    ),
    (
        "def solve(n):\n    return sum(range(n))",
        [TestCase(input=f"[{n}]", expected=str(sum(range(n)))) for n in (10, 100, 1000, 5, 7)],
    ),
]


STDIO_PROBLEMS = [
    (
        "a, b = map(int, input().split())\nprint(a + b)",
        [TestCase(input=f"{i} {i * 3}\n", expected=f"{i * 4}\n") for i in range(5)],
    ),
    (
        "print(*sorted(map(int, input().split())))",
        [
            TestCase(input=f"{i} 3 1 2\n", expected=" ".join(map(str, sorted([i, 3, 1, 2]))))
            for i in range(5)
        ],
    ),
    (
        "print(input()[::-1])",
        [TestCase(input=f"abc{i}\n", expected=f"{i}cba\n") for i in range(5)],
    ),
    (
        "import sys\nprint(sum(range(int(sys.stdin.read()))))",
        [TestCase(input=f"{n}\n", expected=str(sum(range(n)))) for n in (10, 100, 1000, 5, 7)],
    ),
]
"""The same four tasks as stdio programs (`--style stdio`): input on stdin, answer printed."""


def submissions(n: int, style: IOStyle = "function") -> list[Submission]:
    """`n` submissions cycling over the problems (like k samples of several students)."""
    problems = STDIO_PROBLEMS if style == "stdio" else PROBLEMS
    return [
        Submission(code=code, tests=tests, io_style=style)
        for code, tests in (problems[i % len(problems)] for i in range(n))
    ]


@dataclass(frozen=True)
class PoolCost:
    """Where the pool's CPU went while it ran: what a faster pool has to cut."""

    cores_busy: float | None
    """Share of the machine's cores busy (Linux /proc/stat; anything else running counts)."""
    cpu_ms: float | None
    """Machine CPU per verdict: the workers, the kernel and the host together."""
    host_ms: float
    """This process's CPU per verdict (sending jobs, reading and judging answers)."""
    workers: int
    """Fork servers in the pool (the local backend's default: one more than the cores)."""
    servers: tuple[float, float, float, float] | None = None
    """Per verdict: the fork servers' own CPU ms and minor page faults, then their children's
    (the jobs, reaped); None off Linux. Every page a process writes after a fork faults."""


def _fork_servers() -> dict[int, tuple[int, int, int, int]]:
    """Per fork server under this process: (own faults, children's faults, own CPU ticks,
    children's CPU ticks), from /proc."""
    parents, stats = {}, {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{name}/cmdline", "rb") as fh:
                argv = fh.read().split(b"\0")
        except OSError:
            continue
        parents[int(name)] = int(fields[1])
        if b"--serve" in argv and not argv[0].endswith(b"bwrap"):
            stats[int(name)] = (
                int(fields[7]),
                int(fields[8]),
                int(fields[11]) + int(fields[12]),
                int(fields[13]) + int(fields[14]),
            )
    me, mine = os.getpid(), {}
    for pid, stat in stats.items():
        up = pid
        while up > 1 and up != me:
            up = parents.get(up, 0)
        if up == me:
            mine[pid] = stat
    return mine


def _servers_cost(
    before: dict[int, tuple[int, int, int, int]],
    after: dict[int, tuple[int, int, int, int]],
    n: int,
) -> tuple[float, float, float, float] | None:
    both = [pid for pid in before if pid in after]
    if not both:
        return None
    tick_ms = 1000 / os.sysconf("SC_CLK_TCK")
    sums = [sum(after[p][k] - before[p][k] for p in both) for k in range(4)]
    return (sums[2] * tick_ms / n, sums[0] / n, sums[3] * tick_ms / n, sums[1] / n)


def _cpu_ticks() -> tuple[int, int] | None:
    """(all, idle) jiffies of the whole machine, or None off Linux."""
    try:
        with open("/proc/stat") as fh:
            fields = [int(v) for v in fh.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    return sum(fields), fields[3] + fields[4]  # idle + iowait


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def bench_pool(subs: list[Submission]) -> tuple[float, str, PoolCost]:
    """Verdicts/s of the pre-forked pool (warm: workers started before timing), and its cost."""
    with LocalSandbox(SandboxConfig()) as box:
        box.run_sync(subs[: box.workers * 2])  # start the workers
        ticks, own, servers = _cpu_ticks(), _own_cpu(), _fork_servers()
        start = time.perf_counter()
        verdicts = box.run_sync(subs)
        elapsed = time.perf_counter() - start
        host_s, after = _own_cpu() - own, _cpu_ticks()
        servers_cost = _servers_cost(servers, _fork_servers(), len(subs))
        assert all(v.ok for v in verdicts), {v.status for v in verdicts}
    busy = cpu_ms = None
    if ticks is not None and after is not None and after[0] > ticks[0]:
        busy = 1 - (after[1] - ticks[1]) / (after[0] - ticks[0])
        cpu_ms = busy * (os.cpu_count() or 1) * elapsed / len(subs) * 1e3
    cost = PoolCost(
        cores_busy=busy,
        cpu_ms=cpu_ms,
        host_ms=host_s / len(subs) * 1e3,
        workers=box.workers,
        servers=servers_cost,
    )
    return len(subs) / elapsed, box.isolation, cost


def _fresh(sub: Submission, uid: int) -> bool:
    proc = subprocess.Popen(
        _bwrap_argv(uid, 64),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert proc.stdin is not None and proc.stdout is not None
    read_frame(proc.stdout.fileno())  # ready
    write_frame(proc.stdin.fileno(), make_job(sub))
    write_frame(proc.stdin.fileno(), seal()[1])
    proc.stdin.close()
    answer = read_frame(proc.stdout.fileno())
    proc.wait()
    proc.stdout.close()
    return answer is not None and judge(sub, answer, "bwrap").ok


_PLAIN = """
import json, sys
job = json.loads(sys.stdin.read())
ns = {}
exec(compile(job["code"], "solution.py", "exec"), ns)
print(json.dumps([json.dumps(ns["solve"](*json.loads(i))) for i in job["inputs"]]))
"""

_PLAIN_STDIO = """
import io, json, sys
job = json.loads(sys.stdin.read())
code = compile(job["code"], "solution.py", "exec")
outputs = []
for text in job["inputs"]:
    sys.stdin, sys.stdout = io.StringIO(text), io.StringIO()
    exec(code, {"__name__": "__main__"})
    outputs.append(sys.stdout.getvalue())
sys.__stdout__.write(json.dumps(outputs))
"""
"""The plain baseline for stdio programs: each input on an in-memory stdin in the one process
(no process per test, which would only make the baseline slower)."""


def _plain_argv(style: str = "function") -> list[str]:
    exe = os.path.realpath(sys.executable)
    prefix = os.path.realpath(sys.base_prefix)
    binds = [
        a
        for p in ("/usr", "/lib", "/lib64", "/bin", prefix)
        if os.path.exists(p)
        for a in ("--ro-bind", p, p)
    ]
    return [
        "bwrap",
        "--unshare-all",
        "--die-with-parent",
        "--new-session",
        "--clearenv",
        *binds,
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--tmpfs",
        "/tmp",
        exe,
        "-I",
        "-S",
        "-c",
        _PLAIN_STDIO if style == "stdio" else _PLAIN,
    ]


def _plain(sub: Submission) -> bool:
    job = json.dumps({"code": sub.code, "inputs": [t.input for t in sub.tests]})
    done = subprocess.run(
        _plain_argv(sub.io_style),
        input=job.encode(),
        capture_output=True,
        timeout=30,
        env={"PATH": "/usr/bin:/bin"},
        check=False,
    )
    outputs = json.loads(done.stdout) if done.returncode == 0 else []
    return len(outputs) == len(sub.tests) and all(
        outputs_match(o, t.expected, sub.io_style) for o, t in zip(outputs, sub.tests, strict=True)
    )


def bench_plain(subs: list[Submission]) -> float:
    """Verdicts/s of one plain `bwrap ... python -I -S` per verdict (one at a time per core)."""
    start = time.perf_counter()
    with ThreadPoolExecutor(os.cpu_count() or 1) as pool:
        ok = list(pool.map(_plain, subs))
    elapsed = time.perf_counter() - start
    assert all(ok)
    return len(subs) / elapsed


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
    parser.add_argument("--rounds", type=int, default=3, help="pool then plain bwrap, alternating")
    parser.add_argument(
        "--style", choices=("function", "stdio"), default="function",
        help="function: solve(*args) returns the answer; stdio: a program reads stdin, prints",
    )  # fmt: skip
    args = parser.parse_args()
    if args.rounds < 1 or args.runs < 1 or args.baseline_runs < 1:
        parser.error("--runs, --baseline-runs and --rounds must be at least 1")
    if shutil.which("bwrap") is None:
        raise SystemExit(
            "bench_sandbox: bwrap (bubblewrap) is not on PATH, and the pool and both baselines "
            "run under it: apt-get install bubblewrap"
        )
    load = os.getloadavg()[0]
    rounds = []
    for _ in range(args.rounds):
        pool_round = bench_pool(submissions(args.runs, args.style))
        rounds.append((pool_round, bench_plain(submissions(args.baseline_runs, args.style))))
    ratios = [pool_n / plain_n for (pool_n, _, _), plain_n in rounds]
    # The round whose pool rate is the median stands for the pool (its cost with it).
    (pool, isolation, cost), _ = sorted(rounds, key=lambda r: r[0][0])[len(rounds) // 2]
    plain = statistics.median(plain for _, plain in rounds)
    fresh = bench_fresh(submissions(args.baseline_runs, args.style))
    print(f"machine: {machine_line()}")
    print(f"load average before: {load:.2f}, after: {os.getloadavg()[0]:.2f}")
    print(
        f"isolation: {isolation}; {len(PROBLEMS)} {args.style} problems x 5 tests; "
        f"{cost.workers} workers on {os.cpu_count()} cores"
    )
    for n, (((pool_n, _, _), plain_n), ratio) in enumerate(zip(rounds, ratios, strict=True), 1):
        print(
            f"round {n}: pool {pool_n:.1f} verdicts/s, plain bwrap {plain_n:.1f} verdicts/s, "
            f"{ratio:.1f}x"
        )
    print(f"pre-forked pool : {pool:8.1f} verdicts/s ({args.runs} runs, median of {len(rounds)})")
    if cost.cores_busy is not None and cost.cpu_ms is not None:
        print(
            f"  while it ran: cores {cost.cores_busy:.0%} busy, {cost.cpu_ms:.2f} ms of CPU per "
            f"verdict (this process {cost.host_ms:.2f} ms)"
        )
    if cost.servers is not None:
        own_ms, own_faults, kids_ms, kids_faults = cost.servers
        print(
            f"  per verdict: fork servers {own_ms:.2f} ms CPU, {own_faults:.0f} page faults; "
            f"their children {kids_ms:.2f} ms, {kids_faults:.0f} faults"
        )
    print(
        f"plain bwrap     : {plain:8.1f} verdicts/s ({args.baseline_runs} runs, median of "
        f"{len(rounds)}), pool {statistics.median(ratios):.1f}x (median of the rounds' ratios; "
        f"10x: {10 * plain:.0f} verdicts/s)"
    )
    print(
        f"fresh harness   : {fresh:8.1f} verdicts/s ({args.baseline_runs} runs), "
        f"pool {pool / fresh:.1f}x"
    )


if __name__ == "__main__":
    main()
