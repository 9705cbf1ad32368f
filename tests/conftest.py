"""Shared fixtures and helpers: a temporary problem bank, the real local sandbox (skipped without
bwrap), and running an evals module as a reader would."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path

import pytest

from stepstones.tools.store import Bank


def bwrap_available() -> bool:
    """The local sandbox's default isolation is bubblewrap (Debian package `bubblewrap`)."""
    return shutil.which("bwrap") is not None


needs_bwrap = pytest.mark.skipif(
    not bwrap_available(), reason="the local sandbox needs bubblewrap: apt-get install bubblewrap"
)


def eval_process(
    module: str, *args: str, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`python -m stepstones.evals.<module> args` run as a reader would, its output captured."""
    return subprocess.run(
        [sys.executable, "-m", f"stepstones.evals.{module}", *args],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
    )


def run_eval(module: str, *args: str) -> str:
    """The stdout of `python -m stepstones.evals.<module> args` at a tiny size; it must succeed."""
    done = eval_process(module, *args)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.fixture
def bank(tmp_path: Path) -> Iterator[Bank]:
    """An empty bank in a temporary directory."""
    b = Bank(tmp_path / "bank.sqlite")
    yield b
    b.close()


@pytest.fixture
async def sandbox() -> AsyncIterator[object]:
    """The real local sandbox with two workers."""
    if not bwrap_available():
        pytest.skip("the local sandbox needs bubblewrap: apt-get install bubblewrap")
    from stepstones.tools.sandbox import get_sandbox
    from stepstones.tools.sandbox.base import SandboxConfig

    sb = get_sandbox(SandboxConfig(workers=2))
    yield sb
    await sb.aclose()
