"""Export and report on large banks: wall time, CPU time and peak memory of each command.

Each `stepstones export` (one per format) and `stepstones report` runs as a child process, as a
user runs it; its CPU time and peak RSS come from the kernel's accounting of that child
(`os.wait4`, the per-child form of `getrusage(RUSAGE_CHILDREN)`, which would mix the children's
peaks). Banks are written by `bank_fixture` when the folder does not hold them yet.

    python -m stepstones.evals.bench_export [--sizes 10000,100000] [--formats jsonl,parquet,hf]
        [--banks /tmp/stepstones-banks]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from stepstones.evals.bank_fixture import write_bank
from stepstones.reporting.machine import machine_line
from stepstones.tools.export import FORMATS

DEFAULT_BANKS = Path(tempfile.gettempdir()) / "stepstones-banks"


@dataclass(frozen=True)
class Measure:
    """One command's cost."""

    label: str
    wall_s: float
    cpu_s: float
    peak_rss_mib: float


def measure(label: str, argv: list[str]) -> Measure:
    """Run `argv` as a child and account for it alone; a failing command raises."""
    with tempfile.TemporaryFile() as err:  # a file, not a pipe: nothing to drain while waiting
        start = time.perf_counter()
        child = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - start
        child.returncode = code = os.waitstatus_to_exitcode(status)
        if code != 0:
            err.seek(0)
            tail = err.read().decode(errors="replace").strip()[-500:]
            raise RuntimeError(f"{label} exited {code}: {tail}")
    # ru_maxrss is in KiB on Linux
    return Measure(label, wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024)


def bench_bank(bank: Path, formats: list[str], scratch: Path) -> Iterator[Measure]:
    """Export `bank` in each format, then render its report, each in a fresh process (each
    figure as soon as it is measured: at 100k problems a command takes minutes)."""
    cli = [sys.executable, "-m", "stepstones"]
    for fmt in formats:
        target = scratch / f"export-{fmt}"
        argv = [*cli, "export", "--bank", str(bank), "--out", str(target), "--format", fmt]
        yield measure(f"export --format {fmt}", [*argv, "--force"])
        shutil.rmtree(target, ignore_errors=True)
    page = scratch / "report.html"
    yield measure("report --format html", [*cli, "report", "--bank", str(bank),
                                           "--out", str(page)])  # fmt: skip


def main(argv: list[str] | None = None) -> list[tuple[int, Measure]]:
    """Print one line per bank size and command, then the machine."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000", help="problems per bank, e.g. 10000")
    parser.add_argument("--formats", default=",".join(FORMATS))
    parser.add_argument("--banks", type=Path, default=DEFAULT_BANKS,
                        help="folder of bank-N.sqlite files (written when missing)")  # fmt: skip
    args = parser.parse_args(argv)
    formats = [f for f in args.formats.split(",") if f]
    args.banks.mkdir(parents=True, exist_ok=True)
    results: list[tuple[int, Measure]] = []
    for size in (int(s) for s in args.sizes.split(",") if s):
        bank = args.banks / f"bank-{size}.sqlite"
        if not bank.exists():
            start = time.perf_counter()
            write_bank(bank, size)
            print(f"wrote {bank} in {time.perf_counter() - start:.1f} s", flush=True)
        with tempfile.TemporaryDirectory(prefix="bench-export-") as scratch:
            for m in bench_bank(bank, formats, Path(scratch)):
                results.append((size, m))
                print(f"{size:>7} problems  {m.label:<22} wall {m.wall_s:7.1f} s  "
                      f"cpu {m.cpu_s:7.1f} s  peak rss {m.peak_rss_mib:7.0f} MiB",
                      flush=True)  # fmt: skip
    print(machine_line())
    return results


if __name__ == "__main__":
    main()
