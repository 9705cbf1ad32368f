"""A stdio job's inputs wait in memfds at fd 256 and up (`harness_child._stage_inputs`); where
that cannot be done, nothing is left staged and the child writes files instead. Each case runs
in a child interpreter: staging takes fds 256+ of the process it runs in."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import stepstones.tools.sandbox.harness as harness

PROBE = """
import json, os, resource, sys
sys.path.append(sys.argv[1])
import harness_child
case = sys.argv[2]
if case == "no_memfd":
    real, made = os.memfd_create, []
    def flaky(name, flags=0):
        if made:
            raise OSError(38, "memfd_create is not allowed here")
        made.append(1)
        return real(name, flags)
    os.memfd_create = flaky
elif case == "fd_limit":
    resource.setrlimit(resource.RLIMIT_NOFILE, (258, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
staged = harness_child._stage_inputs(["ab", "c\\u00e9d", ""])
def look(fd):
    try:
        return [os.fstat(fd).st_size, os.pread(fd, 100, 0).decode(), os.lseek(fd, 0, os.SEEK_CUR)]
    except OSError:
        return None
print(json.dumps([staged, [look(fd) for fd in (256, 257, 258)]]))
"""


def _stage(case: str) -> list:
    here = str(Path(harness.__file__).parent)
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-c", PROBE, here, case],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return json.loads(done.stdout)


def test_inputs_wait_at_fd_256_up_sized_and_at_their_start() -> None:
    assert _stage("ok") == [True, [[2, "ab", 0], [4, "céd", 0], [0, "", 0]]]


def test_without_memfds_nothing_is_left_staged() -> None:
    assert _stage("no_memfd") == [False, [None, None, None]]


def test_without_room_under_the_fd_limit_nothing_is_staged() -> None:
    assert _stage("fd_limit") == [False, [None, None, None]]
