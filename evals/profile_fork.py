"""Where a sandbox verdict's CPU goes: forked children of a warm fork server, and their faults.

`bench_sandbox` says how much CPU a verdict costs; this says why, by the parts of what the
fork server does per job. It starts an interpreter as the jail starts the fork server
(`python -I -S`, the harness modules and `_PRELOAD` imported, `gc.freeze`), though outside
bubblewrap, and forks it many times per part:

- `fork + exit`: a child that does nothing;
- `compile`, `exec`, `json`: a child that only compiles the benchmark's `a + b` solution, only
  runs it (compiled before the fork), or only decodes five test inputs and encodes their
  outputs and result frames, with the harness's own JSON helpers;
- `run_job`: the fork server's whole job (`harness.run_job`: fork, the child's setup and five
  tests, supervision, cleanup) with a run dir instead of the jail's per-job mounts and no uid
  to drop to.

For each, per fork: the child's CPU and minor page faults (RUSAGE_CHILDREN) and the parent's
(RUSAGE_SELF). Every page a child writes after the fork faults, and is copied where the parent
shares it; Python 3.11 writes reference counts into every object it touches, so the pages a
child dirties follow what it does more than what it allocates. Not a benchmark with a target:
a diagnostic for issue 19's 10x (docs/sandbox.md).

    python -m stepstones.evals.profile_fork [--forks 400]
"""

from __future__ import annotations

# Only what the fork server itself imports, so the profiled interpreter forks the same weight:
# subprocess, for one, brings threading, whose at-fork hook alone doubled a child's faults.
import gc
import json
import os
import resource
import sys
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

SOURCE = "def solve(a, b):\n    return a + b"


def _nothing() -> None:
    pass


def _compile() -> None:
    compile(SOURCE, "solution.py", "exec")


_COMPILED = compile(SOURCE, "solution.py", "exec")


def _exec() -> None:
    ns: dict[str, Any] = {}
    exec(_COMPILED, ns)
    ns["solve"](1, 2)


_HARNESS_CHILD: list[Any] = []
"""harness_child as the profiled fork server loaded it: its JSON helpers are the ones jobs use."""


def _json() -> None:
    hc = _HARNESS_CHILD[0]
    for i in range(5):
        hc._frame({"i": i, "s": "ok", "o": hc.dumps(hc.loads("[1, 2]")), "e": None, "c": 0.0})


def forked(fn: Callable[[], None]) -> Callable[[], None]:
    """One fork whose child runs `fn` and exits at once, as the fork server's children do."""

    def once() -> None:
        pid = os.fork()
        if pid == 0:
            try:
                fn()
            finally:
                os._exit(0)
        os.waitpid(pid, 0)

    return once


def measure(once: Callable[[], None], n: int) -> dict[str, float]:
    """`once` `n` times (after a few to warm up): per-call wall, CPU and faults."""
    for _ in range(min(20, n)):
        once()
    child0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    self0 = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    for _ in range(n):
        once()
    wall = time.perf_counter() - start
    child1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    self1 = resource.getrusage(resource.RUSAGE_SELF)

    def cpu(a: resource.struct_rusage, b: resource.struct_rusage) -> float:
        return (b.ru_utime + b.ru_stime - a.ru_utime - a.ru_stime) / n * 1e3

    return {
        "wall_ms": wall / n * 1e3,
        "child_cpu_ms": cpu(child0, child1),
        "child_faults": (child1.ru_minflt - child0.ru_minflt) / n,
        "parent_cpu_ms": cpu(self0, self1),
        "parent_faults": (self1.ru_minflt - self0.ru_minflt) / n,
    }


def profile(sandbox_dir: str, jobs: list[dict[str, Any]], n: int) -> dict[str, dict[str, float]]:
    """The parts, measured in this interpreter as a fork server (run with -I -S)."""
    sys.path.append(sandbox_dir)
    import harness  # type: ignore[import-not-found,unused-ignore]
    import harness_check  # type: ignore[import-not-found,unused-ignore]
    import harness_child  # type: ignore[import-not-found,unused-ignore]

    sys.path.remove(sandbox_dir)
    harness.harness_child, harness.harness_check = harness_child, harness_check
    _HARNESS_CHILD.append(harness_child)
    for module in harness._PRELOAD.split():
        __import__(module)
    harness_child.prepare_children(None)
    harness._IPC_AT_START[0] = harness_child.ipc_objects()
    gc.freeze()
    parts = {
        name: measure(forked(fn), n)
        for name, fn in (
            ("fork + exit", _nothing),
            ("compile", _compile),
            ("exec", _exec),
            ("json", _json),
        )
    }
    queue = iter(jobs)
    tmp = f"/tmp/profile-fork-{os.getpid()}-{os.urandom(4).hex()}"
    os.mkdir(tmp, 0o700)
    seq = [0]

    def one_job() -> None:
        seq[0] += 1
        answer = harness.run_job(next(queue), -1, tmp, seq[0], False)
        if not answer.get("results"):
            raise RuntimeError(f"run_job gave no results: {answer}")

    parts["run_job"] = measure(one_job, n)
    os.rmdir(tmp)  # run_job removed each job's run dir
    if "threading" in sys.modules:
        raise RuntimeError("the profiled interpreter imported threading: not the fork server's")
    return parts


def main() -> None:
    import argparse
    import subprocess
    from pathlib import Path

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--forks", type=int, default=400, help="forks per part")
    args = parser.parse_args()
    from stepstones.evals.bench_sandbox import submissions
    from stepstones.reporting.machine import machine_line
    from stepstones.tools.sandbox import harness
    from stepstones.tools.sandbox.judge import make_job

    jobs = [make_job(s, i) for i, s in enumerate(submissions(args.forks + 20))]
    sandbox_dir = str(Path(harness.__file__).parent)
    done = subprocess.run(
        [sys.executable, "-I", "-S", __file__, "--child", sandbox_dir, str(args.forks)],
        input=json.dumps(jobs),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"profile_fork: the fork server's stand-in failed:\n{done.stderr}")
    parts = json.loads(done.stdout)
    print(f"machine: {machine_line()}")
    print(f"per fork, {args.forks} forks each; child: CPU, faults; parent: CPU, faults")
    for name, p in parts.items():
        print(
            f"{name:12} wall {p['wall_ms']:6.3f} ms  child {p['child_cpu_ms']:6.3f} ms "
            f"{p['child_faults']:5.0f}  parent {p['parent_cpu_ms']:6.3f} ms "
            f"{p['parent_faults']:5.0f}"
        )


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        print(json.dumps(profile(sys.argv[2], json.loads(sys.stdin.read()), int(sys.argv[3]))))
    else:
        main()
