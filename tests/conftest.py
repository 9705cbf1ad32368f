"""Shared fixtures: a temporary problem bank and the real local sandbox (skipped without bwrap)."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from stepstones.tools.store import Bank


def bwrap_available() -> bool:
    """The local sandbox's default isolation is bubblewrap (Debian package `bubblewrap`)."""
    return shutil.which("bwrap") is not None


needs_bwrap = pytest.mark.skipif(
    not bwrap_available(), reason="the local sandbox needs bubblewrap: apt-get install bubblewrap"
)


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
