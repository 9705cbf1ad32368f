"""Signals and full disks: a stopped run says exactly how to go on, and going on ends whole."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import needs_bwrap
from tests.fakes import SIMULATED, start_run
from tests.integration.conftest import ARGS, bank_contents
from tests.integration.test_faults import finish, one_error_line, wait_for_turns

EARLY = """
import asyncio, os, signal, sys
import stepstones.commands.run as run
import stepstones.graphs.components as components

def stop_now(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGTERM)
    raise SystemExit("the signal should have stopped the run before this line")

async def stop_async(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGTERM)
    await asyncio.sleep(60)

if sys.argv[1] == "config":
    run.load_context = stop_now
else:
    components.ComponentResolver.get = stop_async
from stepstones.cli import main
sys.argv = ["stepstones", "run", "--students", sys.argv[2], *sys.argv[3:]]
main()
"""


def stop_early(where: str, out: Path) -> subprocess.CompletedProcess[str]:
    """`stepstones run` that SIGTERMs itself while the config loads or the components build."""
    return subprocess.run(
        [
            sys.executable,
            "-c",
            EARLY,
            where,
            SIMULATED,
            "--out",
            str(out),
            "--run-id",
            "early",
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("where", ["config", "components"])
def test_an_early_sigterm_is_a_clear_stop_with_no_false_resume_hint(
    tmp_path: Path, where: str
) -> None:
    out = tmp_path / "out"
    done = stop_early(where, out)
    assert done.returncode == 143, done.stderr[-2000:]
    line = one_error_line(done.stderr)
    assert "stopped by SIGTERM before run early had started; nothing to resume" in line
    assert "--resume" not in line
    assert not out.exists()


@needs_bwrap
@pytest.mark.slow
def test_sigterm_mid_run_exits_143_and_the_resume_it_names_works(
    tmp_path: Path, baseline: dict[str, Any]
) -> None:
    out = tmp_path / "run"
    proc = start_run("--out", str(out), "--run-id", "polite", *ARGS)
    wait_for_turns(proc, out, 2)
    proc.send_signal(signal.SIGTERM)
    rc, err = finish(proc)
    assert rc == 143
    assert f"resume with: stepstones run --out {out} --resume polite" in one_error_line(err)
    rc, err = finish(start_run("--out", str(out), "--resume", "polite", "--quiet"))
    assert rc == 0, err[-2000:]
    assert bank_contents(out) == baseline["contents"]


@pytest.fixture
def small_disk() -> Iterator[Path]:
    """A 2 MiB tmpfs (root only); enlarged by `grow(path)`."""
    mount = Path(tempfile.mkdtemp(prefix="stepstones-full-"))
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        mount.rmdir()
        pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)
        shutil.rmtree(mount, ignore_errors=True)


def grow(mount: Path) -> None:
    subprocess.run(["mount", "-o", "remount,size=256m", str(mount)], check=True)


@needs_bwrap
@pytest.mark.slow
def test_a_full_disk_is_one_line_and_the_resume_ends_in_the_same_bank(
    small_disk: Path, baseline: dict[str, Any]
) -> None:
    out = small_disk / "run"
    rc, err = finish(start_run("--out", str(out), "--run-id", "full", *ARGS))
    assert rc == 1, err[-3000:]
    line = one_error_line(err)
    assert "storage failed" in line and "disk is full" in line
    assert f"resume with: stepstones run --out {out} --resume full" in line
    grow(small_disk)
    rc, err = finish(start_run("--out", str(out), "--resume", "full", "--quiet"))
    assert rc == 0, err[-3000:]
    assert bank_contents(out) == baseline["contents"]


def test_the_stop_handlers_are_given_back_after_the_command() -> None:
    """`stepstones run` called in a process of the caller's (a test, a notebook) must not leave
    its SIGINT/SIGTERM handlers behind: a process forked later would inherit one that ignores
    SIGTERM once a signal was caught."""
    import signal

    from stepstones.stops import SignalStop

    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    stopper = SignalStop()
    stopper.install()
    assert signal.getsignal(signal.SIGTERM) == stopper._handle
    stopper.uninstall()
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before
