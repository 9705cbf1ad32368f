"""`stepstones run` as a user meets it: the offline default end to end, and bad input."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlite_utils

from stepstones.graphs.context import SIMULATED_STUDENTS
from stepstones.tools.store import Bank
from tests.conftest import needs_bwrap


def stepstones(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "stepstones", *args], capture_output=True, text=True, timeout=timeout
    )


@needs_bwrap
@pytest.mark.slow
def test_default_offline_run_fills_every_band_within_five_minutes(tmp_path: Path) -> None:
    out = tmp_path / "out"
    start = time.monotonic()
    done = stepstones("run", "--out", str(out), "--quiet")
    elapsed = time.monotonic() - start
    assert done.returncode == 0, done.stderr[-2000:]
    assert elapsed < 300, f"default run took {elapsed:.0f} s"
    report = json.loads((out / "report.json").read_text())
    assert report["stop_reason"] == "quotas_filled"
    assert all(band["filled"] for band in report["bands"].values()), report["bands"]
    assert report["lineages"]["chains_of_3_or_more"] >= 1
    db = sqlite_utils.Database(out / "bank.sqlite")
    assert db["problems"].count >= sum(b["quota"] for b in report["bands"].values())
    assert db["attempts"].count > 0 and db["runs"].count == 1
    assert "stopped: quotas_filled" in done.stdout
    assert Bank(out / "bank.sqlite").run_commands(report["run_id"]) == [
        f"stepstones run --out {out} --quiet"
    ]  # the dataset card shows it
    # The default run is the same on every machine: the simulated students, whatever extras
    # are installed (the embedded LLM is an opt-in, tested in test_engine_isolation.py).
    students = {r["student"] for r in db.query("select distinct student from attempts")}
    assert students == set(SIMULATED_STUDENTS)


def test_bad_config_file_is_one_clear_line_and_nothing_written(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text("samples = -3\n")
    out = tmp_path / "out"
    done = stepstones("run", "--config", str(cfg), "--out", str(out), "--quiet")
    assert done.returncode == 2
    assert "samples" in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert not out.exists()


def test_unknown_model_string_is_one_clear_line_and_nothing_written(tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = stepstones("run", "--teacher", "gpt4-please", "--out", str(out), "--quiet")
    assert done.returncode == 2, done.stderr
    assert "gpt4-please" in done.stderr and "Traceback" not in done.stderr
    assert not out.exists()


def test_a_dead_endpoint_fails_the_preflight_in_one_line_and_nothing_written(
    tmp_path: Path,
) -> None:
    """docs/models.md's preflight example, as pasted: port 9 (discard) refuses the connection."""
    out = tmp_path / "out"
    done = stepstones(
        "run",
        "--students",
        "sim:expert,vllm:m@http://127.0.0.1:9/v1",
        "--out",
        str(out),
        "--quiet",
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert "student 'vllm:m@http://127.0.0.1:9/v1' did not answer a preflight request" in line
    assert line.endswith("leave it out with --students sim:expert")
    assert not out.exists()


@needs_bwrap
def test_a_missing_seed_file_is_one_line_and_nothing_written(tmp_path: Path) -> None:
    config = tmp_path / "seeds.toml"
    config.write_text(f'[seeds]\nsource = "{tmp_path / "none.jsonl"}"\n')
    out = tmp_path / "out"
    done = stepstones("run", "--config", str(config), "--out", str(out), "--quiet", timeout=120)
    assert done.returncode == 2, done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert (
        line == f"error: cannot read seed file {tmp_path / 'none.jsonl'}: No such file or directory"
    )
    assert not out.exists()


def test_unwritable_out_is_one_clear_line(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    done = stepstones("run", "--out", str(blocker / "out"), "--quiet")
    assert done.returncode == 2
    assert "not writable" in done.stderr and "Traceback" not in done.stderr


def test_resume_of_an_unknown_run_is_a_clear_error(tmp_path: Path) -> None:
    done = stepstones("run", "--out", str(tmp_path), "--resume", "nope", "--quiet")
    assert done.returncode == 2 and "no bank" in done.stderr


def one_clear_line(done: subprocess.CompletedProcess[str], *words: str) -> None:
    """Exit 2 with one line on stderr holding `words`, and no traceback."""
    assert done.returncode == 2, done.stderr[-3000:]
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr[-3000:]
    assert all(w in lines[0] for w in words), lines[0]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--quota", "-1"], ["--quota", "at least 1"]),
        (["--quota", "0"], ["--quota", "at least 1"]),
        (["--students", ""], ["--students", "no student"]),
        (["--students", " , "], ["--students", "no student"]),
        (["--postgres", "postgresql://me:hunter2@127.0.0.1:1/nodb"], ["Postgres", "127.0.0.1"]),
    ],
)
def test_bad_flags_are_one_clear_line_and_nothing_written(
    tmp_path: Path, args: list[str], words: list[str]
) -> None:
    out = tmp_path / "out"
    done = stepstones("run", "--out", str(out), "--quiet", *args, timeout=120)
    one_clear_line(done, *words)
    assert "hunter2" not in done.stderr
    assert not out.exists()


def test_an_unisolated_sandbox_is_one_clear_line_and_nothing_written(tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, "-m", "stepstones", "run", "--out", str(out), "--quiet"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "STEPSTONES_SANDBOX__ISOLATION": "none"},
    )
    one_clear_line(done, "sandbox", "allow_unisolated")
    assert not out.exists()


@needs_bwrap
@pytest.mark.slow
def test_a_damaged_checkpoint_is_one_clear_line_on_resume(tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = stepstones(
        "run",
        "--out",
        str(out),
        "--quiet",
        "--quota",
        "1",
        "--run-id",
        "c",
        "--students",
        "sim:novice,sim:expert",
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report = (out / "report.json").read_text()
    with sqlite3.connect(out / "checkpoints.sqlite") as db:
        db.execute("update checkpoints set checkpoint = x'c1c1c1c1deadbeef'")
    done = stepstones("run", "--out", str(out), "--quiet", "--resume", "c")
    one_clear_line(done, "checkpoints of run c", "damaged", str(out / "checkpoints.sqlite"))
    assert (out / "report.json").read_text() == report


def test_a_second_run_in_a_busy_out_is_refused_and_writes_nothing(tmp_path: Path) -> None:
    import fcntl

    out = tmp_path / "out"
    out.mkdir()
    with (out / ".lock").open("a+") as held:  # what a run in progress holds
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        held.write("4242")
        held.flush()
        done = stepstones("run", "--out", str(out), "--quiet", "--run-id", "second", timeout=120)
    one_clear_line(done, str(out), "in use by another stepstones run (pid 4242)")
    assert sorted(p.name for p in out.iterdir()) == [".lock"]


def test_help_lists_the_commands() -> None:
    done = stepstones("--help")
    assert done.returncode == 0
    for command in ("run", "schema", "export"):
        assert command in done.stdout
