"""Where the real pool's CPU goes, kernel included: `perf record -a -g` over a pool run.

`bench_sandbox` says what a verdict costs and `profile_fork` what each part of a job costs in a
forked interpreter outside the jail; this samples the whole machine while the real bwrap pool
judges the benchmark's submissions, and sorts every sample of the fork servers and their
children (the jobs) by what the CPU was doing: user code, a page fault (a copy-on-write, a
file page mapped in, a fresh anonymous page), the exit that tears an address space down, the
fork that copies one, or another syscall. The host process (this one: sending jobs, judging)
is counted apart. A diagnostic for issue 19 (docs/sandbox.md), not a benchmark with a target.

Needs `perf` (linux-perf) and the right to sample the whole machine (root, or
kernel.perf_event_paranoid <= 0); the software clock event works inside VMs without PMU.

    python -m stepstones.evals.profile_pool [--runs 8000] [--frequency 1999]
"""

from __future__ import annotations

import argparse
import ctypes
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path

from stepstones.evals.bench_sandbox import submissions
from stepstones.tools.sandbox.base import SandboxConfig
from stepstones.tools.sandbox.local import LocalSandbox, _runtime

HOST = "stepstones-host"
"""This process's name while it profiles; threads inherit it, so every host thread has it."""

_FAULT_KINDS = (
    ("do_wp_page", "fault: copy-on-write"),
    ("do_anonymous_page", "fault: new anonymous page"),
    ("filemap_map_pages", "fault: file page mapped"),
    ("do_read_fault", "fault: file page mapped"),
)


def classify(stack: list[str], in_kernel: bool) -> str:
    """What one sample was doing, by its frames (innermost first); `in_kernel`: the sampled
    instruction was the kernel's."""
    frames = set(stack)
    if "asm_exc_page_fault" in frames:
        for frame, kind in _FAULT_KINDS:
            if frame in frames:
                return kind
        return "fault: trap, lookup and accounting"
    for frame in stack:
        if frame == "do_exit":
            return "exit (address space torn down)"
        if frame in ("copy_process", "kernel_clone"):
            return "fork (address space copied)"
        if frame.startswith(("__x64_sys_", "__do_sys_")):
            return "syscall: " + frame.removeprefix("__x64_sys_").removeprefix("__do_sys_")
        if frame.startswith(("asm_sysvec", "asm_common_interrupt")):
            return "interrupt"
    return "kernel: other" if in_kernel else "user"


def samples(lines: Iterable[str]) -> Iterator[tuple[str, list[str], bool]]:
    """(comm, frames innermost first, whether the innermost is the kernel's) per sample of
    `perf script -F comm,ip,sym` output."""
    comm: str | None = None
    stack: list[str] = []
    in_kernel = False
    for line in lines:
        if not line.strip():
            continue
        if not line[0].isspace():
            if comm is not None:
                yield comm, stack, in_kernel
            comm, stack = line.split()[0], []
            continue
        parts = line.split()
        if len(parts) < 2:
            continue
        if not stack:
            in_kernel = parts[0].startswith("ffff")
        stack.append(parts[1].split("+")[0])
    if comm is not None:
        yield comm, stack, in_kernel


_ROLES = {HOST[:15]: "host (this process)", "swapper": "idle", "bwrap": "bwrap"}
"""Every other process by its name (the kernel keeps 15 bytes of it); the workers by theirs."""


def tally(lines: Iterable[str], worker_comm: str) -> tuple[Counter[str], Counter[str]]:
    """Samples per process role and, for the fork servers and their jobs, per `classify` kind."""
    roles: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    for comm, stack, in_kernel in samples(lines):
        if comm == worker_comm:
            roles["fork servers and jobs"] += 1
            kinds[classify(stack, in_kernel)] += 1
        else:
            roles[_ROLES.get(comm, "other")] += 1
    return roles, kinds


def _name_self(name: str) -> None:
    libc = ctypes.CDLL(None)
    libc.prctl(15, name.encode()[:15], 0, 0, 0)  # PR_SET_NAME


def _table(counter: Counter[str], total: int) -> list[str]:
    return [f"  {n / total:6.1%}  {key}" for key, n in counter.most_common()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=8000)
    parser.add_argument("--frequency", type=int, default=1999)
    args = parser.parse_args()
    perf = shutil.which("perf")
    if perf is None:
        sys.exit("profile_pool needs perf on PATH (Debian: apt-get install linux-perf)")
    _name_self(HOST)  # before the pool's threads start, so they carry the name too
    subs = submissions(args.runs)
    with tempfile.TemporaryDirectory(prefix="stepstones-perf-") as tmp:
        data = Path(tmp) / "perf.data"
        with LocalSandbox(SandboxConfig()) as box:
            box.run_sync(subs[: box.workers * 2])  # start the workers
            rec = subprocess.Popen(
                [
                    perf,
                    "record",
                    "-a",
                    "-g",
                    "-F",
                    str(args.frequency),
                    "-e",
                    "cpu-clock",
                    "-o",
                    str(data),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            time.sleep(1.0)  # perf's own start-up must not fall inside the timed run
            if rec.poll() is not None:
                err = rec.stderr.read().decode(errors="replace") if rec.stderr else ""
                sys.exit(f"perf record could not start (root or perf_event_paranoid <= 0?):\n{err}")
            start = time.perf_counter()
            box.run_sync(subs)
            elapsed = time.perf_counter() - start
            rec.send_signal(signal.SIGINT)
            rec.wait()
        script = subprocess.run(
            [perf, "script", "-i", str(data), "-F", "comm,ip,sym"],
            capture_output=True,
            text=True,
            errors="replace",
            check=True,
        )
    worker_comm = os.path.basename(_runtime()[0])[:15]
    roles, kinds = tally(script.stdout.splitlines(), worker_comm)
    print(f"{args.runs} verdicts in {elapsed:.2f} s ({args.runs / elapsed:.1f}/s), "
          f"sampled at {args.frequency} Hz on every core")  # fmt: skip
    print(f"samples by process ({sum(roles.values())}; the 1 s before the run included):")
    print("\n".join(_table(roles, sum(roles.values()))))
    total = sum(kinds.values())
    print(f"fork servers and their jobs ({total} samples), by what they were doing:")
    ranked = kinds.most_common()
    print("\n".join(_table(Counter(dict(ranked[:12])), total)))
    if rest := ranked[12:]:
        share = sum(n for _, n in rest) / total
        print(f"  {share:6.1%}  the rest, none over {rest[0][1] / total:.1%}")


if __name__ == "__main__":
    main()
