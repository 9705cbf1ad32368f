"""One compiled graph, many runs: what belongs to a run stays with that run (issue 16, item 2).

LangGraph's server and Studio compile the graph once and run every thread through it. A start
time, a usage meter or a dedup index cached per process and context is then shared by every
run with an equal context: a second run inherited the first run's clock and stopped at once
with `wall_time` and 0 turns.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from langgraph.checkpoint.memory import InMemorySaver

from stepstones.evals.openai_standin import OpenAIStandin
from stepstones.graphs import build_graph
from stepstones.graphs.bands import Band
from stepstones.graphs.context import Budget, CriticConfig, MissingContext, RunContext
from stepstones.tools.store import Bank
from tests.conftest import needs_bwrap

CODE = "```python\ndef solve(*args):\n    return None\n```"


def context(tmp_path: Path, **kw: Any) -> RunContext:
    base: dict[str, Any] = {
        "bank": str(tmp_path / "bank.sqlite"),
        "samples": 2,
        "concurrency": 1,
        "seed": 1,
        "students": ["sim:expert"],
        "critic": CriticConfig(decontaminate=False, mutants=2),
        "bands": [Band(name="all", lo=0.0, hi=1.0, quota=50)],
    }
    base.update(kw)
    return RunContext(**base)


@needs_bwrap
async def test_a_second_run_of_one_compiled_graph_gets_its_own_clock(tmp_path: Path) -> None:
    ctx = context(tmp_path, budget=Budget(max_wall_s=3, max_teacher_calls=400))
    graph = build_graph(checkpointer=InMemorySaver())
    turns = []
    for run in ("first", "second"):
        config = {"configurable": {"thread_id": run}, "recursion_limit": 10_000}
        await graph.ainvoke({"run_id": run}, config, context=ctx)
        state = (await graph.aget_state(config)).values
        assert state["stop_reason"] == "wall_time"
        turns.append(len(state["outcomes"]))
        await asyncio.sleep(0.5)  # the second run starts 3.5 s after the first
    assert turns[0] > 0 and turns[1] > 0, turns


@needs_bwrap
async def test_each_run_reports_its_own_usage(tmp_path: Path) -> None:
    """Two equal runs through one graph: each counts its own model calls, not the sum."""
    with OpenAIStandin(reply=CODE) as server:
        ctx = context(
            tmp_path,
            students=["sim:expert", f"vllm:standin@{server.base_url}"],
            budget=Budget(max_teacher_calls=3),
        )
        graph = build_graph(checkpointer=InMemorySaver())
        reports = []
        for run in ("a", "b"):
            config = {"configurable": {"thread_id": run}, "recursion_limit": 1000}
            reports.append((await graph.ainvoke({"run_id": run}, config, context=ctx))["report"])
    bank = Bank(ctx.bank)
    try:
        per_run = [bank.usage(run) for run in ("a", "b")]
    finally:
        bank.close()
    calls = [sum(u.calls for u in usage if u.agent == "student") for usage in per_run]
    assert calls[0] > 0 and calls[0] == calls[1], calls
    assert reports[0]["usage"] == reports[1]["usage"]


async def test_a_graph_invoked_without_a_context_says_so(tmp_path: Path) -> None:
    graph = build_graph(checkpointer=InMemorySaver())
    with pytest.raises(MissingContext, match="context=RunContext"):
        await graph.ainvoke({"run_id": "r"}, {"configurable": {"thread_id": "t"}})
