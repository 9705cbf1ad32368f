"""Flowing lineages (`schedule = "flow"`, graphs/flow.py): what the docs promise of them.

- A lineage's next turn starts when its own last one ends: a slow lineage holds up nobody.
- With one lineage in flight a flowing run makes the bank a rounds run makes.
- kill -9 and resume: with one lineage the bank of the uninterrupted run; with several a bank
  that agrees with its report and holds each turn once.
- Once every band is full the turns in flight are cancelled, but not one writing its record.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from stepstones.agents.teacher import ProceduralTeacher, TeacherRequest, TeacherResult
from stepstones.graphs.bands import default_bands
from stepstones.graphs.components import ComponentResolver
from stepstones.graphs.context import RunContext
from stepstones.runner import Progress, run_pipeline
from stepstones.tools.schema import TurnOutcome
from stepstones.tools.store import Bank
from tests.conftest import needs_bwrap
from tests.fakes import kill_9_when_banked, start_run
from tests.integration.test_same_bank import bank

ARGS = ["--quota", "3", "--seed", "7", "--quiet"]
QUOTA = 4
"""flow_context's problems a band."""


def run(out: Path, schedule: str, *extra: str) -> subprocess.Popen[str]:
    os.environ["STEPSTONES_SCHEDULE"] = schedule
    try:
        return start_run("--out", str(out), *ARGS, *extra)
    finally:
        del os.environ["STEPSTONES_SCHEDULE"]


def finished(proc: subprocess.Popen[str]) -> None:
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-2000:]


def turn_keys(out: Path) -> list[tuple[str, int]]:
    with sqlite3.connect(out / "bank.sqlite") as db:
        return [tuple(r) for r in db.execute("select lineage_id, turn from turns")]


@needs_bwrap
def test_one_flowing_lineage_makes_the_bank_of_a_rounds_run(tmp_path: Path) -> None:
    procs = [
        run(tmp_path / s, s, "--concurrency", "1", "--run-id", "one") for s in ("rounds", "flow")
    ]
    for p in procs:
        finished(p)
    rounds, flow = bank(tmp_path / "rounds"), bank(tmp_path / "flow")
    assert flow["turns"] and flow == rounds


class SlowFirstLineage(ProceduralTeacher):
    """The procedural teacher, 1.5 s slower for lineage 0's first turn; logs every call."""

    def __init__(self) -> None:
        super().__init__(seed=7)
        self.calls: list[tuple[int, int, float]] = []

    async def write(self, request: TeacherRequest) -> TeacherResult:
        self.calls.append((request.lineage_index, request.turn, time.monotonic()))
        if request.lineage_index == 0 and request.turn == 0:
            await asyncio.sleep(1.5)
        return await super().write(request)


def flow_context(tmp_path: Path, schedule: str) -> RunContext:
    return RunContext(
        students=["sim:novice", "sim:expert"],
        bands=default_bands(QUOTA),
        concurrency=3,
        schedule=schedule,  # type: ignore[arg-type]
        bank=str(tmp_path / "bank.sqlite"),
        seed=7,
    )


@needs_bwrap
@pytest.mark.parametrize("schedule", ["rounds", "flow"])
def test_a_slow_lineage_holds_up_only_itself_when_lineages_flow(
    tmp_path: Path, schedule: str
) -> None:
    teacher = SlowFirstLineage()
    result = asyncio.run(
        run_pipeline(
            flow_context(tmp_path, schedule),
            tmp_path / "run",
            run_id="slow",
            resolver=ComponentResolver(teacher=teacher),
        )
    )
    assert result.report["stop_reason"]
    slow_done = next(t for i, turn, t in teacher.calls if (i, turn) == (0, 1))
    # Calls of other lineages, past their first turn, made while lineage 0's first turn ran.
    overtaking = [
        (i, turn) for i, turn, t in teacher.calls if i != 0 and turn >= 1 and t < slow_done
    ]
    if schedule == "flow":
        assert overtaking, teacher.calls
    else:  # a round waits for its slowest turn: nobody's second turn starts before lineage 0's
        assert not overtaking, teacher.calls


@needs_bwrap
@pytest.mark.slow
def test_kill_9_then_resume_a_flowing_run(tmp_path: Path) -> None:
    # One lineage: deterministic, so the resumed bank is the uninterrupted one.
    finished(run(tmp_path / "whole", "flow", "--concurrency", "1", "--run-id", "r1"))
    proc = run(tmp_path / "cut", "flow", "--concurrency", "1", "--run-id", "r1")
    kill_9_when_banked(tmp_path / "cut", proc, len(turn_keys(tmp_path / "whole")) // 2)
    finished(run(tmp_path / "cut", "flow", "--resume", "r1"))
    assert bank(tmp_path / "cut") == bank(tmp_path / "whole")
    # Four lineages: not deterministic, but every turn is held once and the report is the bank's.
    proc = run(tmp_path / "four", "flow", "--concurrency", "4", "--run-id", "r4")
    kill_9_when_banked(tmp_path / "four", proc, 8)
    finished(run(tmp_path / "four", "flow", "--resume", "r4"))
    keys = turn_keys(tmp_path / "four")
    assert len(keys) == len(set(keys))
    report: dict[str, Any] = json.loads((tmp_path / "four" / "report.json").read_text())
    with sqlite3.connect(tmp_path / "four" / "bank.sqlite") as db:
        valid = db.execute("select count(*) from problems where valid").fetchone()[0]
    assert report["stop_reason"] == "quotas_filled"
    assert report["problems"]["valid"] == valid


@needs_bwrap
def test_a_flowing_run_reports_progress_up_to_its_last_turn(tmp_path: Path) -> None:
    """Progress comes from the slots' steps (the run graph's own are its start and end): it
    arrives during the run, never goes back, and ends with every turn the bank holds."""
    seen: list[Progress] = []
    result = asyncio.run(
        run_pipeline(
            flow_context(tmp_path, "flow"), tmp_path / "run", run_id="p", on_progress=seen.append
        )
    )
    assert result.report["stop_reason"] == "quotas_filled"
    sizes = [len(p.outcomes) for p in seen]
    assert len(sizes) >= 2 and sizes == sorted(sizes), sizes
    with sqlite3.connect(tmp_path / "run" / "bank.sqlite") as db:
        banked = db.execute("select count(*) from turns").fetchone()[0]
    assert sizes[-1] == banked
    final = seen[-1].bands
    assert all(final[b.name] == (b.quota, b.quota) for b in default_bands(4)), final


class CountsInFlight(ProceduralTeacher):
    """The procedural teacher, 0.3 s per call; the most calls it ever had in flight at once.

    A call waits (until 10 s after the first call at most) for `expected` calls to be in flight
    together, so that a slow machine, starting the lineages' first turns further apart than a
    call lasts, still shows them all at once; with fewer lineages the calls only run late."""

    def __init__(self, expected: int) -> None:
        super().__init__(seed=7)
        self.expected = expected
        self.now = self.most = 0
        self.deadline: float | None = None

    async def write(self, request: TeacherRequest) -> TeacherResult:
        self.now += 1
        self.most = max(self.most, self.now)
        self.deadline = self.deadline or time.monotonic() + 10
        try:
            while self.most < self.expected and time.monotonic() < self.deadline:
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.3)
            return await super().write(request)
        finally:
            self.now -= 1


@needs_bwrap
def test_a_flowing_run_holds_a_lineage_per_endpoint_slot_by_default(tmp_path: Path) -> None:
    # README: "a flowing run takes one lineage per request slot of an endpoint
    # (`endpoint_concurrency`) unless `concurrency` says otherwise".
    ctx = flow_context(tmp_path, "flow").model_copy(
        update={"concurrency": None, "endpoint_concurrency": 5}
    )
    teacher = CountsInFlight(expected=5)
    result = asyncio.run(
        run_pipeline(
            ctx, tmp_path / "run", run_id="slots", resolver=ComponentResolver(teacher=teacher)
        )
    )
    assert result.report["stop_reason"]
    assert teacher.most == 5


def banked_counts(bank: Bank, run_id: str) -> Counter[str | None]:
    """Valid problems per band, as the bank holds them now."""
    return Counter(o.band for o in bank.turns(run_id) if o.valid)


def open_slots_banked(bank: Bank, run_id: str) -> dict[str, int]:
    """Each band with room left, and how much, by the bank."""
    counts = banked_counts(bank, run_id)
    return {b.name: QUOTA - counts[b.name] for b in default_bands(QUOTA) if counts[b.name] < QUOTA}


@needs_bwrap
def test_a_turn_writing_its_record_when_the_bands_fill_is_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The write that fills the last open slot waits here until another turn is writing its
    record (a worker thread, 0.3 s here), so the run cancels its turns in flight while that
    write runs: cancelled there, the turn's record would be banked and its outcome lost, and
    the run's end check would raise BankMismatch."""
    writing: list[str] = []
    overlapped: list[str] = []
    put_turn_result, put_turn = Bank.put_turn_result, Bank.put_turn

    def full(bank: Bank, run_id: str) -> bool:
        return not open_slots_banked(bank, run_id)

    def slow(bank: Bank, run_id: str, outcome: TurnOutcome, write: Callable[[], Any]) -> Any:
        writing.append(outcome.lineage_id)
        try:
            began_open = not full(bank, run_id)
            time.sleep(0.3)
            done = write()
            if began_open and full(bank, run_id):  # filled meanwhile, the rest cancelled
                overlapped.append(f"{outcome.lineage_id} turn {outcome.turn}")
            return done
        finally:
            writing.remove(outcome.lineage_id)

    def slow_result(bank: Bank, run_id: str, *args: Any) -> str | None:
        problem, outcome = args[1], args[-1]
        if open_slots_banked(bank, run_id) == {problem.band: 1}:  # it fills the last open slot
            deadline = time.monotonic() + 10
            while not writing and time.monotonic() < deadline:
                time.sleep(0.01)
            return put_turn_result(bank, run_id, *args)
        return slow(bank, run_id, outcome, lambda: put_turn_result(bank, run_id, *args))

    def slow_turn(bank: Bank, run_id: str, outcome: TurnOutcome) -> None:
        slow(bank, run_id, outcome, lambda: put_turn(bank, run_id, outcome))

    monkeypatch.setattr(Bank, "put_turn_result", slow_result)
    monkeypatch.setattr(Bank, "put_turn", slow_turn)
    ctx = flow_context(tmp_path, "flow").model_copy(
        update={"concurrency": 6, "max_turns_per_seed": 1}  # first turns: none waits for a band
    )
    result = asyncio.run(run_pipeline(ctx, tmp_path / "run", run_id="slow"))  # no BankMismatch
    assert overlapped, "no turn was writing when the bands filled: the test proved nothing"
    assert result.report["stop_reason"] == "quotas_filled"
    with sqlite3.connect(tmp_path / "run" / "bank.sqlite") as db:
        turns = {f"{lid} turn {t}" for lid, t in db.execute("select lineage_id, turn from turns")}
        valid = db.execute("select count(*) from problems where valid").fetchone()[0]
    assert set(overlapped) <= turns
    assert result.report["problems"]["valid"] == valid


def run_that_dies_once_full(out: str, checkpoint_delay_s: float = 0.0) -> None:
    """A flowing run (as the test below sets it) that dies, as by kill -9, right after the
    bank write that fills the last open slot has committed: before the slot's checkpoint.

    `checkpoint_delay_s`: every checkpoint write waits this long first, as the checkpointer's
    thread does on a loaded machine (CI's two cores, six slots writing at once)."""
    put_turn_result = Bank.put_turn_result

    def dies_once_full(bank: Bank, run_id: str, *args: Any) -> str | None:
        holder = put_turn_result(bank, run_id, *args)
        if not open_slots_banked(bank, run_id):
            os._exit(137)  # no cleanup, no checkpoint: the process is gone
        return holder

    Bank.put_turn_result = dies_once_full  # type: ignore[method-assign]
    if checkpoint_delay_s:
        from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

        aput = AsyncSqliteSaver.aput

        async def lagging(saver: AsyncSqliteSaver, *args: Any, **kwargs: Any) -> Any:
            await asyncio.sleep(checkpoint_delay_s)
            return await aput(saver, *args, **kwargs)

        AsyncSqliteSaver.aput = lagging  # type: ignore[method-assign]
    asyncio.run(run_pipeline(killed_context(Path(out)), Path(out) / "run", run_id="k"))


def killed_context(tmp_path: Path) -> RunContext:
    return flow_context(tmp_path, "flow").model_copy(update={"concurrency": 6})


def die_once_full(tmp_path: Path, checkpoint_delay_s: float) -> None:
    died = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from tests.integration.test_flow import run_that_dies_once_full; "
            "run_that_dies_once_full(sys.argv[1], float(sys.argv[2]))",
            str(tmp_path),
            str(checkpoint_delay_s),
        ],
        cwd=Path(__file__).parents[2],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert died.returncode == 137, died.stderr[-3000:]


def resumes_to_a_bank_that_matches(tmp_path: Path) -> None:
    ctx = killed_context(tmp_path)
    result = asyncio.run(run_pipeline(ctx, tmp_path / "run", run_id="k", resume=True))
    assert result.report["stop_reason"] == "quotas_filled"
    with sqlite3.connect(tmp_path / "run" / "bank.sqlite") as db:
        valid = db.execute("select count(*) from problems where valid").fetchone()[0]
    assert result.report["problems"]["valid"] == valid


@needs_bwrap
def test_a_run_killed_once_its_bands_filled_resumes_to_a_bank_that_matches(
    tmp_path: Path,
) -> None:
    """The write that fills the last open slot commits, then the run dies before the slot's
    checkpoint. On resume every band is full (the ledger is rebuilt from the bank), but that
    turn is replayed, not cancelled as surplus: cancelled, its record would stay in the bank
    with no checkpoint behind it, and the end check would raise BankMismatch."""
    die_once_full(tmp_path, 0.0)
    resumes_to_a_bank_that_matches(tmp_path)


@needs_bwrap
def test_a_killed_run_whose_checkpoints_lagged_resumes_to_a_bank_that_matches(
    tmp_path: Path,
) -> None:
    """Checkpoint writes that lag behind the turns (half a second each) must not let a turn
    bank its record before the slot step that admitted it is saved. Under LangGraph's default
    "async" durability they did: on resume such a slot redid the step, found every band full
    and ended, and the bank kept turns no checkpoint had (32-45 of them in three runs, and
    once in CI without any delay). The run streams with "sync" durability (runner._stream)."""
    die_once_full(tmp_path, 0.5)
    resumes_to_a_bank_that_matches(tmp_path)
