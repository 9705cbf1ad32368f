"""The Postgres checkpointer (multi-worker deployments): run, stop, resume against a real server.

A throwaway cluster is created with the machine's `initdb` (Debian: apt-get install postgresql)
on a free loopback port; the test skips with a reason where there is none.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import needs_bwrap
from tests.fakes import SIMULATED, bank_turns, start_run

pytestmark = [pytest.mark.slow, needs_bwrap]


def _initdb() -> str | None:
    debian = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    return debian[0] if debian else shutil.which("initdb")


@pytest.fixture(scope="module")
def postgres_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    pytest.importorskip("langgraph.checkpoint.postgres", reason="needs stepstones[postgres]")
    initdb = _initdb()
    if initdb is None:
        pytest.skip("no Postgres server binaries (apt-get install postgresql)")
    bindir = Path(initdb).parent
    # Not under pytest's tmp dir: a root-owned 0700 parent would keep `postgres` out.
    base = Path(tempfile.mkdtemp(prefix="stepstones-pg-"))
    base.chmod(0o777)
    data = base / "data"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    as_user: list[str] = []
    if os.geteuid() == 0:  # initdb refuses root: run the cluster as `postgres`
        if shutil.which("runuser") is None:
            pytest.skip("running as root without runuser")
        as_user = ["runuser", "-u", "postgres", "--"]
    subprocess.run(
        [*as_user, str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"],
        check=True,
        capture_output=True,
    )
    log = data.parent / "server.log"
    subprocess.run(
        [
            *as_user,
            str(bindir / "pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(log),
            "-w",
            "-o",
            f"-p {port} -k {data.parent} -h 127.0.0.1",
            "start",
        ],
        check=True,
        capture_output=True,
    )
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            capture_output=True,
        )
        shutil.rmtree(base, ignore_errors=True)


cli = start_run
turns = bank_turns


def test_run_stop_and_resume_with_the_postgres_checkpointer(
    postgres_url: str, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    args = ["--out", str(out), "--postgres", postgres_url, "--students", SIMULATED, "--quiet"]
    proc = cli(*args, "--run-id", "pg-run", "--quota", "3", "--seed", "3")
    deadline = time.monotonic() + 300
    while turns(out) < 3 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    # 0 if it finished before the signal; 143 (128 + SIGTERM) as a shell reports a TERM stop
    assert proc.returncode in (0, 143), err[-2000:]
    assert not (out / "checkpoints.sqlite").exists()  # the checkpoints went to Postgres
    if proc.returncode == 143:
        resumed = cli(*args, "--resume", "pg-run")
        _, err = resumed.communicate(timeout=600)
        assert resumed.returncode == 0, err[-2000:]
    report = json.loads((out / "report.json").read_text())
    assert report["stop_reason"] == "quotas_filled"
