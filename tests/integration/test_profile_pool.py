"""profile_pool end to end: with perf, every sample of the real pool is sorted and the shares
add up; without perf, one clear line (the figures themselves depend on the machine)."""

from __future__ import annotations

import os
import re
import shutil

import pytest

from tests.conftest import eval_process

SHARE = re.compile(r"^ +(\d+\.\d)%  (.+)$")


def _sections(out: str) -> dict[str, dict[str, float]]:
    sections: dict[str, dict[str, float]] = {}
    current: dict[str, float] | None = None
    for line in out.splitlines():
        if m := SHARE.match(line):
            assert current is not None, out
            current[m[2]] = float(m[1])
        else:
            current = sections.setdefault(line.split(" (")[0], {})
    return sections


@pytest.mark.skipif(
    shutil.which("perf") is None or shutil.which("bwrap") is None,
    reason="needs perf (linux-perf) and bubblewrap",
)
def test_every_sample_of_the_pool_is_sorted_and_the_shares_add_up() -> None:
    done = eval_process("profile_pool", "--runs", "400", "--frequency", "499")
    if done.returncode != 0 and "perf record could not start" in done.stderr:
        pytest.skip(f"perf may not sample this machine: {done.stderr.strip()[-300:]}")
    assert done.returncode == 0, done.stderr[-3000:]
    sections = _sections(done.stdout)
    roles = sections["samples by process"]
    kinds = sections["fork servers and their jobs"]
    assert roles["fork servers and jobs"] > 0 and roles["host (this process)"] > 0, done.stdout
    assert abs(sum(roles.values()) - 100) < 1 and abs(sum(kinds.values()) - 100) < 1.5, done.stdout
    # A pool that forks a child per verdict spends in fork, exit and faults, whatever the machine.
    for kind in ("fork (address space copied)", "exit (address space torn down)", "user"):
        assert kinds.get(kind, 0) > 0, (kind, done.stdout)


def test_without_perf_it_says_what_to_install() -> None:
    done = eval_process("profile_pool", env={**os.environ, "PATH": "/nonexistent"})
    assert done.returncode != 0
    assert "needs perf" in done.stderr, done.stderr
