"""Faults a hostile operator causes: each ends in the uninterrupted run's bank or a clear error.

A run that exits 0 must have a bank holding exactly what its report says; a fault (a deleted
bank, a cut-off write-ahead log, a kill at an awkward moment) must end non-zero with one line
naming what is wrong, or in a resume whose bank equals the uninterrupted run's.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import needs_bwrap
from tests.fakes import bank_turns, start_run
from tests.integration.conftest import ARGS, bank_contents


def wait_for_turns(proc: subprocess.Popen[str], out: Path, n: int) -> None:
    """Block until the bank holds `n` turns; fail if the run ends first."""
    deadline = time.monotonic() + 300
    while bank_turns(out) < n and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    if proc.poll() is not None:
        pytest.fail(f"the run ended before turn {n}: {proc.stderr.read()[-2000:]}")


def finish(proc: subprocess.Popen[str]) -> tuple[int, str]:
    _, err = proc.communicate(timeout=600)
    return proc.returncode, err


def one_error_line(err: str) -> str:
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert "Traceback" not in err, err[-3000:]
    assert len(lines) == 1, err[-3000:]
    return lines[0]


def kill_9(out: Path, run_id: str, at_turn: int) -> None:
    proc = start_run("--out", str(out), "--run-id", run_id, *ARGS)
    wait_for_turns(proc, out, at_turn)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()


@needs_bwrap
@pytest.mark.slow
def test_a_bank_deleted_mid_run_ends_in_an_error_not_exit_0(tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = start_run("--out", str(out), "--run-id", "doomed", *ARGS)
    wait_for_turns(proc, out, 5)
    for path in out.glob("bank.sqlite*"):
        path.unlink()
    rc, err = finish(proc)
    assert rc not in (0, None)
    line = one_error_line(err)
    assert "bank" in line and "is gone" in line
    assert not (out / "report.json").exists()


@needs_bwrap
@pytest.mark.slow
def test_a_truncated_bank_wal_is_named_on_resume_or_the_bank_is_whole(
    tmp_path: Path, baseline: dict[str, Any]
) -> None:
    out = tmp_path / "run"
    kill_9(out, "cut", at_turn=max(2, baseline["turns"] // 2))
    wal = out / "bank.sqlite-wal"
    assert wal.exists() and wal.stat().st_size > 0
    with wal.open("r+b") as f:
        f.truncate(wal.stat().st_size // 2)  # a power cut mid-write
    rc, err = finish(start_run("--out", str(out), "--resume", "cut", "--quiet"))
    if rc == 0:
        assert bank_contents(out) == baseline["contents"]
    else:
        assert rc == 1
        line = one_error_line(err)
        # Either the frames kept no longer hold every checkpointed turn, or SQLite refuses the
        # file (its -shm index points past the cut): both name the bank.
        assert "does not match the checkpoints" in line or "cannot read the bank" in line
        assert str(out / "bank.sqlite") in line


@needs_bwrap
@pytest.mark.slow
@pytest.mark.parametrize("shm", ["kept", "rebuilt"])
def test_a_truncated_wal_that_loses_every_turn_is_named(tmp_path: Path, shm: str) -> None:
    out = tmp_path / "run"
    kill_9(out, "cut", at_turn=4)
    with (out / "bank.sqlite-wal").open("r+b") as f:
        f.truncate(32)  # only the header: every frame (every commit since the file began) lost
    if shm == "rebuilt":
        # SQLite rebuilds a missing (or stale) -shm index from the cut WAL: the bank then opens
        # fine and holds no record of the run at all, which is still a mismatch, not a typo.
        (out / "bank.sqlite-shm").unlink()
    rc, err = finish(start_run("--out", str(out), "--resume", "cut", "--quiet"))
    line = one_error_line(err)
    assert rc == 1, line
    if shm == "rebuilt":
        assert "does not match the checkpoints" in line and "no record of it" in line
    else:
        assert "does not match the checkpoints" in line or "cannot read the bank" in line


@needs_bwrap
def test_resuming_a_run_the_directory_never_had_is_a_usage_error(tmp_path: Path) -> None:
    out = tmp_path / "run"
    kill_9(out, "real", at_turn=2)
    rc, err = finish(start_run("--out", str(out), "--resume", "typo", "--quiet"))
    assert rc == 2
    assert "unknown run typo" in one_error_line(err)


@needs_bwrap
@pytest.mark.slow
def test_report_and_summary_are_the_banks(baseline: dict[str, Any]) -> None:
    out = baseline["out"]
    import sqlite3

    with sqlite3.connect(out / "bank.sqlite") as db:
        valid = db.execute("select count(*) from problems where valid = 1").fetchone()[0]
        stored = json.loads(db.execute("select report from runs").fetchone()[0])
    report = baseline["report"]
    assert report == stored
    assert report["problems"]["valid"] == valid


def resume_until_killed(out: Path, run_id: str, at_turn: int) -> subprocess.Popen[str] | None:
    """Resume; SIGKILL it once the bank holds `at_turn` turns (None: it finished first)."""
    proc = start_run("--out", str(out), "--resume", run_id, "--quiet")
    deadline = time.monotonic() + 300
    while bank_turns(out) < at_turn and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    if proc.poll() is not None:
        return proc
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    return None


@needs_bwrap
@pytest.mark.slow
@pytest.mark.parametrize("trial", range(3))
def test_repeated_kill_9_at_random_points_then_resume_ends_in_the_same_bank(
    tmp_path: Path, baseline: dict[str, Any], trial: int
) -> None:
    """The matrix's kill row: two or three SIGKILLs at random turns, each followed by a resume."""
    rng = random.Random(1300 + trial)
    total = baseline["turns"]
    points = sorted(rng.sample(range(1, total), k=rng.choice((2, 3))))
    out = tmp_path / "run"
    kill_9(out, "k", at_turn=points[0])
    for point in points[1:]:
        ended = resume_until_killed(out, "k", point)
        if ended is not None:
            assert ended.returncode == 0, ended.stderr.read()[-2000:] if ended.stderr else ""
            break
    rc, err = finish(start_run("--out", str(out), "--resume", "k", "--quiet"))
    assert rc == 0, err[-2000:]
    assert bank_contents(out) == baseline["contents"]
    report = json.loads((out / "report.json").read_text())
    assert report["problems"] == baseline["report"]["problems"]
