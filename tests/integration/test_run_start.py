"""What a run does before its first turn, and alongside what (stepstones/runner.py)."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest

from stepstones import runner
from stepstones.agents.preflight import PreflightError
from stepstones.graphs.bands import Band
from stepstones.graphs.context import SIMULATED_STUDENTS, Budget, RunContext, SeedConfig
from stepstones.graphs.curriculum import build_graph
from stepstones.graphs.run_nodes import context_seeds
from stepstones.runner import CHECKPOINT_FILE, run_pipeline, sqlite_checkpointer
from stepstones.tools.schema import Seed
from stepstones.tools.seeds import SeedError, load_seeds
from stepstones.tools.store import Bank
from tests.conftest import needs_bwrap


@needs_bwrap
async def test_the_seeds_load_while_the_sandbox_starts_and_the_models_answer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The seeds' load (for stdlib, a quarter second of parsing) happens beside the start, not
    after the preflight in start_run, where it held back every lineage's first model call. A
    preflight that waits for the load only sees it done when the two run side by side; it
    then fails, and the run leaves nothing behind."""
    loaded = threading.Event()

    def loading(ctx: RunContext) -> list[Seed]:
        try:
            return context_seeds(ctx)
        finally:
            loaded.set()

    seen: list[bool] = []

    async def waiting_preflight(*_args: Any, **_kwargs: Any) -> None:
        for _ in range(200):
            if loaded.is_set():
                break
            await asyncio.sleep(0.05)
        seen.append(loaded.is_set())
        raise PreflightError("teacher did not answer (a test)")

    monkeypatch.setattr(runner, "context_seeds", loading)
    monkeypatch.setattr(runner, "preflight", waiting_preflight)
    out = tmp_path / "run"
    with pytest.raises(PreflightError):
        await run_pipeline(RunContext(students=list(SIMULATED_STUDENTS)), out)
    assert seen == [True]
    assert not out.exists()


@needs_bwrap
async def test_a_bad_seed_source_fails_before_any_model_is_asked_with_nothing_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Loaded in start_run, a missing seed file failed after the preflight's pings and left a
    bank and a checkpoint file in the new output directory."""
    asked: list[object] = []

    async def preflight(*args: Any, **_kwargs: Any) -> None:
        asked.append(args)

    monkeypatch.setattr(runner, "preflight", preflight)
    ctx = RunContext(
        students=list(SIMULATED_STUDENTS), seeds=SeedConfig(source=str(tmp_path / "none.jsonl"))
    )
    out = tmp_path / "run"
    with pytest.raises(SeedError, match="cannot read seed file"):
        await run_pipeline(ctx, out)
    assert not asked
    assert not out.exists()


@needs_bwrap
async def test_start_run_banks_the_seeds_the_runner_loaded_and_checkpoints_no_copy(
    tmp_path: Path,
) -> None:
    """The loaded seeds reach the graph as its input; start_run moves them into the queue, so
    the input's copy is not written into every later checkpoint of the run graph."""
    ctx = RunContext(
        students=list(SIMULATED_STUDENTS),
        seed=3,
        seeds=SeedConfig(limit=30),
        budget=Budget(max_teacher_calls=3),
        bands=[Band(name="all", lo=0.0, hi=1.0, quota=1)],
    )
    out = tmp_path / "run"
    result = await run_pipeline(ctx, out, run_id="start")
    bank = Bank(out / "bank.sqlite")
    try:
        banked = {s.id for s in bank.seeds("start")}
    finally:
        bank.close()
    assert banked == {s.id for s in load_seeds("stdlib", 30, seed=3)}
    async with sqlite_checkpointer(out / CHECKPOINT_FILE) as saver:
        state = await build_graph(checkpointer=saver).aget_state(
            {"configurable": {"thread_id": result.run_id}}
        )
    assert state.values["seeds"] == []
