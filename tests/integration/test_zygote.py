"""The fork server's zygote forks every job's child, so the worker itself never forks per job
(its own pages then take no copy-on-write faults; docs/sandbox.md). Driven here as the host
drives it, one fork server on pipes, outside bubblewrap: what the zygote changes is the process
tree, which needs no jail to see."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import stepstones.tools.sandbox.harness as harness
from stepstones.tools.sandbox.base import Submission
from stepstones.tools.sandbox.harness import read_frame, write_frame
from stepstones.tools.sandbox.judge import make_job, seal
from stepstones.tools.schema import TestCase


def _serve(tmp_path: Path) -> subprocess.Popen[bytes]:
    # --uid -1: the job runs as the worker's own uid, so it can signal its parent.
    return subprocess.Popen(
        [
            sys.executable,
            "-I",
            "-S",
            harness.__file__,
            "--serve",
            "--uid",
            "-1",
            "--tmp",
            str(tmp_path / "jobs"),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env={"PATH": "/usr/bin:/bin"},
    )


def _ask(proc: subprocess.Popen[bytes], code: str) -> dict[str, Any]:
    assert proc.stdin is not None and proc.stdout is not None
    sub = Submission(code=code, tests=[TestCase(input="[1, 2]", expected="3")])
    write_frame(proc.stdin.fileno(), make_job(sub, "j1"))
    write_frame(proc.stdin.fileno(), seal()[1])
    answer = read_frame(proc.stdout.fileno())
    assert answer is not None
    return answer


def _parent(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def test_a_job_s_parent_is_the_zygote_not_the_worker(tmp_path: Path) -> None:
    proc = _serve(tmp_path)
    try:
        assert proc.stdout is not None
        ready = read_frame(proc.stdout.fileno())
        assert ready is not None and ready["ready"], ready
        answer = _ask(proc, "import os\ndef solve(a, b):\n    return os.getppid()")
        zygote = int(answer["results"][0]["o"])
        assert zygote != ready["pid"]
        assert _parent(zygote) == ready["pid"]  # the worker's child, alive between jobs
    finally:
        proc.kill()
        proc.wait()


def test_a_job_that_kills_the_zygote_gets_an_error_and_the_worker_recycles(
    tmp_path: Path,
) -> None:
    proc = _serve(tmp_path)
    try:
        assert proc.stdin is not None and proc.stdout is not None
        assert read_frame(proc.stdout.fileno()) is not None
        answer = _ask(
            proc,
            "import os, signal\ndef solve(a, b):\n"
            "    os.kill(os.getppid(), signal.SIGKILL)\n    return a + b",
        )
        assert "zygote" in answer.get("error", ""), answer
        assert answer["recycle"] is True
        assert answer["id"] == "j1"
        # The worker ends after a recycle: the host starts a fresh one.
        proc.stdin.close()
        assert proc.wait(timeout=30) == 0
        assert read_frame(proc.stdout.fileno()) is None
    finally:
        proc.kill()
        proc.wait()
