"""How much of a turn is checkpointed: the context's `checkpoints`, "turn" (default) or "step".

"turn" runs each lineage's turn subgraph with LangGraph's "exit" durability: a finished turn
leaves no checkpoint of its own (the run graph records its result), but a turn that pauses for
a review or fails is saved where it stopped, so a resume does not call the teacher again.
"step" checkpoints after every node inside a turn as well. Both must give the same run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from langgraph.checkpoint.memory import InMemorySaver

from stepstones.graphs import build_graph
from stepstones.graphs.context import Budget
from stepstones.tools.schema import Problem
from stepstones.tools.store import Bank
from tests.fakes import ScriptedStudent, ScriptedTeacher, always_right, always_wrong
from tests.integration.test_graph_routing import context, task

CONFIG = {"configurable": {"thread_id": "t"}, "recursion_limit": 500}


def namespaces(saver: InMemorySaver) -> set[str]:
    """Checkpoint namespaces holding a checkpoint or a pending write ("" is the run graph)."""
    held = {ns for per_ns in saver.storage.values() for ns, per_id in per_ns.items() if per_id}
    return held | {ns for (_thread, ns, _id) in saver.writes}


async def run_with(tmp_path: Path, sandbox: Any, checkpoints: str) -> dict[str, Any]:
    ctx = context(tmp_path / checkpoints, checkpoints=checkpoints)
    saver = InMemorySaver()
    graph = build_graph(
        checkpointer=saver,
        teacher=ScriptedTeacher(lambda r: task(r.turn)),
        students=[always_right(), always_wrong()],
        sandbox=sandbox,
        bank=Bank(ctx.bank),
    )
    await graph.ainvoke({"run_id": "r"}, CONFIG, context=ctx)
    state = (await graph.aget_state(CONFIG)).values
    return {"state": state, "namespaces": namespaces(saver)}


async def test_turn_mode_keeps_no_checkpoints_of_finished_turns_and_step_mode_does(
    tmp_path: Path, sandbox: Any
) -> None:
    per_turn = await run_with(tmp_path, sandbox, "turn")
    per_step = await run_with(tmp_path, sandbox, "step")
    assert per_turn["namespaces"] == {""}
    inner = per_step["namespaces"] - {""}
    assert inner and all(ns.startswith("run_turn:") for ns in inner)

    def outcomes(out: dict[str, Any]) -> list[tuple[Any, ...]]:
        return [
            (o.lineage_id, o.turn, o.problem_id, o.valid, o.band, o.pass_rate)
            for o in out["state"]["outcomes"]
        ]

    assert len(outcomes(per_turn)) == 3
    assert outcomes(per_turn) == outcomes(per_step)


@pytest.mark.parametrize("checkpoints", ["turn", "step"])
async def test_a_failed_turn_resumes_where_it_stopped_without_a_new_teacher_call(
    tmp_path: Path, sandbox: Any, checkpoints: str
) -> None:
    failures = [RuntimeError("the student's endpoint fell over")]

    def flaky(problem: Problem, i: int) -> str:
        if failures:
            raise failures.pop()
        return problem.reference_solution

    teacher = ScriptedTeacher(lambda r: task(r.turn))
    ctx = context(
        tmp_path,
        checkpoints=checkpoints,
        budget=Budget(max_seeds=1, max_turns_per_seed=1, max_repairs=2),
    )
    saver = InMemorySaver()
    graph = build_graph(
        checkpointer=saver,
        teacher=teacher,
        students=[ScriptedStudent("flaky", flaky)],
        sandbox=sandbox,
        bank=Bank(ctx.bank),
    )
    with pytest.raises(RuntimeError, match="fell over"):
        await graph.ainvoke({"run_id": "r"}, CONFIG, context=ctx)
    assert len(teacher.requests) == 1
    assert any(ns.startswith("run_turn:") for ns in namespaces(saver))  # saved where it failed

    await graph.ainvoke(None, CONFIG, context=ctx)
    assert len(teacher.requests) == 1  # resumed at the students, not at the teacher
    (outcome,) = (await graph.aget_state(CONFIG)).values["outcomes"]
    assert outcome.valid and outcome.pass_rate == 1.0
