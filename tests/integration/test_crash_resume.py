"""kill -9 a run at several points, resume it, and compare with an uninterrupted run.

The offline configuration is deterministic for a given seed (procedural teacher, simulated
students, calibrated limits), so the resumed run must hold exactly the problems and attempts of
the uninterrupted one: none lost (the checkpoints replay unfinished turns or steps), none
duplicated (bank writes are upserts on content-hash ids).
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import pytest

from stepstones.graphs import build_graph
from stepstones.runner import serde, sqlite_checkpointer
from tests.conftest import needs_bwrap
from tests.fakes import bank_turns, kill_9_when_banked, start_run
from tests.integration.conftest import ARGS, bank_contents


def start(out: Path, *extra: str) -> subprocess.Popen[str]:
    return start_run("--out", str(out), *extra)


turns = bank_turns
contents = bank_contents


@needs_bwrap
@pytest.mark.slow
@pytest.mark.parametrize(
    ("kill_fraction", "checkpoints"), [(0.15, "turn"), (0.5, "turn"), (0.85, "turn"), (0.5, "step")]
)
def test_kill_9_then_resume_matches_an_uninterrupted_run(
    tmp_path: Path,
    baseline: dict[str, object],
    kill_fraction: float,
    checkpoints: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # "turn" redoes the turns in flight; "step" resumes them after their last finished node.
    monkeypatch.setenv("STEPSTONES_CHECKPOINTS", checkpoints)
    kill_after = max(1, int(int(baseline["turns"]) * kill_fraction))  # type: ignore[call-overload]
    out = tmp_path / "run"
    proc = start(out, "--run-id", "crashy", *ARGS)
    kill_9_when_banked(out, proc, kill_after)
    assert turns(out) < int(baseline["turns"])  # type: ignore[call-overload]
    with sqlite3.connect(out / "checkpoints.sqlite") as db:
        inside = db.execute("select count(*) from checkpoints where checkpoint_ns != ''")
        assert (inside.fetchone()[0] > 0) == (checkpoints == "step")

    resumed = start(out, "--resume", "crashy", "--quiet")
    _, err = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, err[-2000:]
    got = contents(out)
    want = baseline["contents"]
    assert got["problems"] == want["problems"]  # type: ignore[index]
    assert got["attempts"] == want["attempts"]  # type: ignore[index]
    assert got["rows"] == len(got["attempts"])  # type: ignore[arg-type]
    report = json.loads((out / "report.json").read_text())
    assert report["bands"] == baseline["report"]["bands"]  # type: ignore[index]


@needs_bwrap
@pytest.mark.slow
def test_root_checkpoints_hold_the_rounds_writes_not_the_growing_state(
    baseline: dict[str, object],
) -> None:
    """Queue, lineages and outcomes are delta channels: a checkpoint must not store them whole,
    yet the state read back from the checkpoints must hold every turn and every lineage."""
    out = baseline["out"]
    assert isinstance(out, Path)
    s = serde()
    with sqlite3.connect(out / "checkpoints.sqlite") as db:
        rows = db.execute(
            "select type, checkpoint from checkpoints where checkpoint_ns = ''"
            " and thread_id = 'base'"
        ).fetchall()
    assert len(rows) > 4
    for row in rows:
        values = s.loads_typed(row)["channel_values"]
        for channel in ("queue", "lineages", "outcomes"):
            # A delta channel's value appears only as a periodic snapshot (every 100 updates).
            assert channel not in values or type(values[channel]).__name__ == "_DeltaSnapshot"

    async def final_state() -> dict[str, Any]:
        async with sqlite_checkpointer(out / "checkpoints.sqlite") as saver:
            graph = build_graph(checkpointer=saver)
            return (await graph.aget_state({"configurable": {"thread_id": "base"}})).values

    state = asyncio.run(final_state())
    assert len(state["outcomes"]) == baseline["turns"]
    assert {o.lineage_id for o in state["outcomes"]} <= set(state["lineages"])
    report = baseline["report"]
    assert isinstance(report, dict)
    assert len(state["lineages"]) == report["lineages"]["count"]
