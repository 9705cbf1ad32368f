"""What a run does before its first turn, and alongside what (stepstones/runner.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from stepstones import runner
from stepstones.agents.preflight import PreflightError
from stepstones.graphs.context import SIMULATED_STUDENTS, RunContext
from stepstones.runner import run_pipeline
from stepstones.tools import seeds
from tests.conftest import needs_bwrap


@needs_bwrap
async def test_the_seed_pool_is_built_while_the_sandbox_starts_and_the_models_answer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stdlib pool's parse (a quarter second) happens beside the start, not after the
    preflight in start_run, where it held back every lineage's first model call. A preflight
    that waits for the pool only sees it built when the two run side by side; it then fails,
    and the run leaves nothing behind."""
    monkeypatch.setattr(seeds, "_POOLS", {})
    seen: list[bool] = []

    async def waiting_preflight(*_args: Any, **_kwargs: Any) -> None:
        for _ in range(200):
            if seeds._POOLS:
                break
            await asyncio.sleep(0.05)
        seen.append(bool(seeds._POOLS))
        raise PreflightError("teacher did not answer (a test)")

    monkeypatch.setattr(runner, "preflight", waiting_preflight)
    out = tmp_path / "run"
    with pytest.raises(PreflightError):
        await run_pipeline(RunContext(students=list(SIMULATED_STUDENTS)), out)
    assert seen == [True]
    assert not out.exists()
