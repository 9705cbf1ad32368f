"""The graph's nodes, routers and stop policy, called alone as module functions (issue 16).

The wiring in graphs/curriculum.py binds `Parts` into each node; here a test binds its own.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from langgraph.types import Send

from stepstones.graphs import run_nodes, turn_nodes
from stepstones.graphs.bands import Band, lineage_stop, run_stop
from stepstones.graphs.components import ComponentResolver, Parts
from stepstones.graphs.context import STUDIO_BANK, Budget, MissingContext, RunContext
from stepstones.graphs.state import LineageState
from stepstones.tools.schema import (
    Critique,
    ModelFailure,
    PerformanceSummary,
    Rejection,
    Seed,
    TurnOutcome,
)
from stepstones.tools.store import Bank
from tests.conftest import needs_bwrap
from tests.fakes import ScriptedTeacher, make_problem

SEED = Seed(kind="code", source="test", text="def f(x):\n    return x\n")
BANDS = [Band(name="all", lo=0.0, hi=1.0, quota=2)]


def runtime(ctx: RunContext | None) -> Any:
    return SimpleNamespace(context=ctx)


def outcome(**kw: Any) -> TurnOutcome:
    base: dict[str, Any] = {
        "lineage_id": "L0",
        "seed_id": SEED.id,
        "turn": 0,
        "direction": "seed",
        "teacher_calls": 1,
    }
    return TurnOutcome(**{**base, **kw})


# -- routers ----------------------------------------------------------------------------------


def test_after_solving_a_turn_with_no_judged_sample_is_discarded() -> None:
    parts = Parts(ComponentResolver())
    one: Any = {"attempts": [SimpleNamespace(student="sim:expert")]}
    assert (
        turn_nodes.route_after_solve({"attempts": []}, runtime(RunContext()), parts=parts)
        == "discard_problem"
    )
    assert (
        turn_nodes.route_after_solve(one, runtime(RunContext()), parts=parts)
        == "summarize_performance"
    )
    # With a target student, only its samples can measure the problem.
    targeted = RunContext(students=["sim:expert", "sim:novice"], target_student="sim:novice")
    assert turn_nodes.route_after_solve(one, runtime(targeted), parts=parts) == "discard_problem"


def test_an_invalid_draft_is_repaired_while_repairs_are_left() -> None:
    ctx = RunContext(budget=Budget(max_repairs=2))
    assert turn_nodes.repair_or_discard({"repairs": 1}, ctx) == "generate_problem"  # type: ignore[typeddict-item]
    assert turn_nodes.repair_or_discard({"repairs": 2}, ctx) == "discard_problem"  # type: ignore[typeddict-item]
    failed = [ModelFailure(model="t", role="teacher", error="500")]
    assert (
        turn_nodes.repair_or_discard({"repairs": 0, "model_failures": failed}, ctx)
        == "discard_problem"
    )  # type: ignore[typeddict-item]


def test_a_valid_draft_goes_to_review_only_when_asked() -> None:
    parts = Parts(ComponentResolver())
    valid = {"critique": Critique(valid=True), "problem": object()}
    assert (
        turn_nodes.route_after_critique(valid, runtime(RunContext()), parts=parts)
        == "solve_problem"
    )  # type: ignore[arg-type]
    assert (
        turn_nodes.route_after_critique(valid, runtime(RunContext(human_review=True)), parts=parts)
        == "review_problem"
    )  # type: ignore[arg-type]


def test_the_scheduler_sends_a_turn_per_active_lineage_within_the_budget() -> None:
    parts = Parts(ComponentResolver())
    lineages = {f"L{i}": LineageState(lineage_id=f"L{i}", seed=SEED) for i in range(3)}
    state: Any = {"run_id": "r", "lineages": lineages, "outcomes": [outcome()], "round": 4}
    sends = run_nodes.route_after_schedule(
        state, runtime(RunContext(budget=Budget(max_teacher_calls=3))), parts=parts
    )
    assert isinstance(sends, list) and all(isinstance(s, Send) for s in sends)
    assert [s.arg["lineage"].lineage_id for s in sends] == ["L0", "L1"]  # 2 calls left
    assert all(s.arg["round"] == 4 for s in sends)
    state["stop_reason"] = "quotas_filled"
    assert run_nodes.route_after_schedule(state, runtime(RunContext()), parts=parts) == "finish_run"


# -- the stop policy --------------------------------------------------------------------------


def test_a_lineage_stops_for_each_reason_in_order() -> None:
    def stop(last: TurnOutcome, move: Any = "harder", **kw: Any) -> Any:
        args = {"turns": 1, "stale": 0, "multi_turn": True, "max_turns": 3, **kw}
        return lineage_stop(last, move, **args)

    banded = outcome(valid=True, band="all", pass_rate=0.5)
    assert stop(banded, multi_turn=False) == "single_turn"
    assert stop(banded, turns=3) == "turns_spent"
    assert stop(banded, stale=2) == "band_full"
    assert stop(banded) is None
    assert stop(banded, "next_seed") == "no_open_band"
    assert stop(outcome(), "next_seed") == "discarded"
    spent = outcome(rejections=[Rejection(code="exhausted", message="no variant left")])
    assert stop(spent, "next_seed") == "exhausted"
    unmeasured = outcome(model_failures=[ModelFailure(model="s", error="500")])
    assert stop(unmeasured, "next_seed") == "retry"


def test_the_run_stops_for_the_first_reason_that_holds() -> None:
    def stop(counts: dict[str, int] | None = None, **kw: Any) -> Any:
        args = {
            "teacher_dropped": False,
            "students_left": 1,
            "teacher_calls": 0,
            "max_teacher_calls": 10,
            "elapsed_s": 0.0,
            "max_wall_s": None,
            **kw,
        }
        return run_stop(counts or {}, BANDS, **args)

    assert stop() is None
    assert stop({"all": 2}, teacher_dropped=True) == "quotas_filled"
    assert stop(teacher_dropped=True, students_left=0) == "teacher_failed"
    assert stop(students_left=0) == "students_failed"
    assert stop(teacher_calls=10) == "teacher_budget"
    assert stop(elapsed_s=5.0, max_wall_s=4.0) == "wall_time"


# -- context and nodes ------------------------------------------------------------------------


def test_a_node_without_a_context_says_so_unless_it_is_studios() -> None:
    with pytest.raises(MissingContext, match="context=RunContext"):
        Parts(ComponentResolver()).context(runtime(None))
    # Studio's empty form gets the defaults with Studio's own bank (never the CLI's newest run).
    assert Parts(ComponentResolver(), context_required=False).context(runtime(None)) == RunContext(
        bank=str(STUDIO_BANK)
    )


async def test_generate_problem_records_a_reply_that_is_no_problem(tmp_path: Path) -> None:
    bank = Bank(tmp_path / "bank.sqlite")
    parts = Parts(ComponentResolver(teacher=ScriptedTeacher(lambda r: None), bank=bank))
    ctx = RunContext(bank=str(tmp_path / "bank.sqlite"), students=["sim:expert"])
    state: Any = {"run_id": "r", "lineage": LineageState(lineage_id="L0", seed=SEED)}
    try:
        update = await turn_nodes.generate_problem(state, runtime(ctx), parts=parts)
        assert update["problem"] is None and update["teacher_calls"] == 1
        assert [r.code for r in update["critique"].rejections] == ["malformed"]
        assert [r["codes"] for r in bank.rejections("r")] == [["malformed"]]
    finally:
        await parts.resolver.aclose()
        bank.close()


@needs_bwrap
async def test_a_replayed_turn_after_a_resume_does_not_meet_itself_as_a_duplicate(
    tmp_path: Path,
) -> None:
    """The first critique of a resumed process: the bank already holds the turn's own problem,
    banked in the round being replayed (killed after the bank write, before its checkpoint)."""
    path = tmp_path / "bank.sqlite"
    problem = make_problem()
    bank = Bank(path)
    bank.start_run("r", {})
    outcome_ = outcome(round=3, problem_id=problem.id, valid=True, band="all", pass_rate=0.5)
    summary = PerformanceSummary(problem_id=problem.id, pass_rate=0.5, students=[])
    assert bank.put_turn_result("r", "L0", problem, [], summary, outcome_) is None
    parts = Parts(ComponentResolver(bank=bank))  # a new process: nothing loaded yet
    ctx = RunContext(bank=str(path), students=["sim:expert"])
    state: Any = {
        "run_id": "r",
        "round": 3,
        "problem": problem,
        "lineage": LineageState(lineage_id="L0", seed=SEED),
    }
    try:
        update = await turn_nodes.critique_problem(state, runtime(ctx), parts=parts)
        assert update["critique"].valid, update["critique"].rejections
        # The same problem from a later round is a duplicate of the banked one.
        state["round"] = 4
        again = await turn_nodes.critique_problem(state, runtime(ctx), parts=parts)
        assert [r.code for r in again["critique"].rejections] == ["duplicate"]
    finally:
        await parts.resolver.aclose()
        bank.close()


def test_the_pipeline_reads_on_one_screen() -> None:
    """Issue 16's promise to a newcomer: curriculum.py is the wiring, short enough to read."""
    import inspect

    from stepstones.graphs import curriculum

    assert len(inspect.getsource(curriculum).splitlines()) < 200
    assert len(inspect.getsource(curriculum.graph_builder).splitlines()) < 60
