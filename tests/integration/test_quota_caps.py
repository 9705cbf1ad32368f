"""A quota is a cap and a spent catalogue is a stop (issue 17), on real runs of the graph:
the procedural teacher, simulated students and the local sandbox."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from langgraph.checkpoint.memory import InMemorySaver

from stepstones.agents.teacher import ProceduralTeacher
from stepstones.graphs import build_graph
from stepstones.graphs.bands import Band
from stepstones.graphs.context import Budget, RunContext
from stepstones.tools.store import Bank
from tests.conftest import needs_bwrap
from tests.fakes import SIMULATED


async def run(ctx: RunContext, teacher: Any = None) -> tuple[dict[str, Any], Bank]:
    bank = Bank(ctx.bank)
    graph = build_graph(checkpointer=InMemorySaver(), teacher=teacher, bank=bank)
    config = {"configurable": {"thread_id": "t"}, "recursion_limit": 2000}
    await graph.ainvoke({"run_id": "r"}, config, context=ctx)
    return (await graph.aget_state(config)).values, bank


@needs_bwrap
async def test_a_round_starts_no_more_turns_than_the_band_has_slots(tmp_path: Path) -> None:
    ctx = RunContext(
        bank=str(tmp_path / "bank.sqlite"),
        students=SIMULATED.split(","),
        samples=2,
        concurrency=6,
        bands=[Band(name="all", lo=0.0, hi=1.0, quota=3)],
    )
    state, bank = await run(ctx)
    assert state["stop_reason"] == "quotas_filled"
    per_round: dict[int, int] = {}
    for o in state["outcomes"]:
        per_round[o.round] = per_round.get(o.round, 0) + 1
    assert max(per_round.values()) <= 3, per_round
    banded = [o for o in state["outcomes"] if o.valid and o.band == "all"]
    assert len(banded) == 3  # every slot's turn was counted before another started
    assert state["report"]["bands"]["all"] == {
        "count": 3,
        "surplus": 0,
        "quota": 3,
        "filled": True,
        "pass_rate": [0.0, 1.0],
    }
    assert len([p for p in bank.problems("r", surplus=False) if p.band == "all"]) == 3


@needs_bwrap
async def test_a_teacher_with_no_distinct_problem_left_stops_the_run(tmp_path: Path) -> None:
    ctx = RunContext(
        bank=str(tmp_path / "bank.sqlite"),
        students=SIMULATED.split(","),
        samples=2,
        concurrency=2,
        budget=Budget(max_teacher_calls=40),
        bands=[Band(name="all", lo=0.0, hi=1.0, quota=50)],
    )
    teacher = ProceduralTeacher(seed=0, families=["palindromes"])  # 3 levels: 3 distinct tasks
    state, bank = await run(ctx, teacher)
    assert state["stop_reason"] == "teacher_exhausted"
    codes = [c for r in bank.rejections("r") for c in r["codes"]]
    assert "duplicate" not in codes, codes
    variants = {o.variant for o in state["outcomes"] if o.valid}
    assert variants <= {f"code/palindromes:{lv}" for lv in range(1, 4)}
    calls = sum(o.teacher_calls for o in state["outcomes"])
    assert calls <= 3 * (1 + ctx.budget.max_repairs), calls
