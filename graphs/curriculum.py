"""The stepping-stone curriculum graph (arXiv 2603.24202) as a LangGraph StateGraph.

Run graph: start_run -> schedule_turns -> (Sends) -> schedule_turns ... -> finish_run, with the
context's `schedule` (graphs/context.py) choosing what the Sends run:
- "rounds": a Send per active lineage to run_turn, one turn each; `schedule_turns` is the band
  router: after every round it moves each lineage harder (too easy), easier (too hard), towards an
  open band, or to the next seed, and stops when every quota is filled or the budget is spent.
- "flow": a Send per slot (`concurrency` of them) to run_slot, whose subgraph loops next_lineage
  -> steer_lineage (the band router for one lineage) -> run_turn -> steer_lineage ... until the
  run stops, so a lineage's next turn starts when its last one ends (graphs/flow.py).

Turn subgraph (one teacher turn of one lineage): generate_problem -> critique_problem ->
(invalid: generate_problem again as a repair, bounded, else discard_problem) ->
[review_problem: an optional human interrupt] -> (valid) solve_problem -> summarize_performance
-> assign_band. The nodes are module functions in `graphs/run_nodes.py`, `graphs/flow.py` and
`graphs/turn_nodes.py`; this module is only the wiring, with `Parts` (how a node reaches its
context and components) bound into each node here.

How much of a turn is checkpointed is the context's `checkpoints`. "turn" (the default) runs the
subgraph with LangGraph's "exit" durability: a turn is saved only where it pauses for a review
or fails, and a crash redoes the turns that were in flight. "step" also checkpoints after every
node inside a turn (Studio's history and time travel inside it), at 7x the checkpoint data and
more time per turn (docs/benchmarks.md).

`build_graph()` returns the uncompiled builder so each caller picks its checkpointer; `graph` is
the checkpointer-free compile that langgraph.json points Studio at.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime
from langgraph.types import RetryPolicy

from stepstones.agents.critic import InfraError
from stepstones.agents.student import Student
from stepstones.agents.summarizer import LLMSummarizer
from stepstones.agents.teacher import Teacher
from stepstones.graphs import flow as flow_
from stepstones.graphs import run_nodes as run_
from stepstones.graphs import turn_nodes as turn_
from stepstones.graphs.components import ComponentResolver, Parts
from stepstones.graphs.context import RunContext
from stepstones.graphs.state import (
    RunInput,
    RunOutput,
    RunState,
    SlotInput,
    SlotOutput,
    SlotState,
    TurnInput,
    TurnOutput,
    TurnState,
)
from stepstones.tools.sandbox.base import Sandbox
from stepstones.tools.store import Bank

INFRA_RETRY = RetryPolicy(max_attempts=3, retry_on=InfraError)


def _turn_graph(bind: Any) -> CompiledStateGraph[TurnState, RunContext, TurnInput, TurnOutput]:
    """The turn subgraph, compiled without a checkpointer: the run graph's reaches it."""
    turn = StateGraph(
        TurnState, context_schema=RunContext, input_schema=TurnInput, output_schema=TurnOutput
    )
    turn.add_node("generate_problem", bind(turn_.generate_problem))
    turn.add_node("critique_problem", bind(turn_.critique_problem), retry_policy=INFRA_RETRY)
    turn.add_node("review_problem", bind(turn_.review_problem))
    turn.add_node("solve_problem", bind(turn_.solve_problem), retry_policy=INFRA_RETRY)
    turn.add_node("summarize_performance", bind(turn_.summarize_performance))
    turn.add_node("assign_band", bind(turn_.assign_band))
    turn.add_node("discard_problem", bind(turn_.discard_problem))
    turn.add_edge(START, "generate_problem")
    turn.add_edge("generate_problem", "critique_problem")
    turn.add_conditional_edges(
        "critique_problem",
        bind(turn_.route_after_critique),
        ["review_problem", "solve_problem", "generate_problem", "discard_problem"],
    )
    turn.add_conditional_edges(
        "review_problem",
        bind(turn_.route_after_review),
        ["solve_problem", "critique_problem", "generate_problem", "discard_problem"],
    )
    turn.add_conditional_edges(
        "solve_problem", bind(turn_.route_after_solve), ["summarize_performance", "discard_problem"]
    )
    turn.add_edge("summarize_performance", "assign_band")
    turn.add_edge("assign_band", END)
    turn.add_edge("discard_problem", END)
    return turn.compile()


def _slot_graph(
    bind: Any, turn: flow_.TurnRunner
) -> CompiledStateGraph[SlotState, RunContext, SlotInput, SlotOutput]:
    """A flowing run's slot: next lineage, steer it, its turn, steer again... (graphs/flow.py)."""
    slot = StateGraph(
        SlotState, context_schema=RunContext, input_schema=SlotInput, output_schema=SlotOutput
    )
    slot.add_node("next_lineage", bind(flow_.next_lineage))
    slot.add_node("steer_lineage", bind(flow_.steer_lineage))
    slot.add_node("run_turn", partial(bind(flow_.run_turn), turn=turn))
    slot.add_edge(START, "next_lineage")
    slot.add_conditional_edges("next_lineage", flow_.route_after_next, ["steer_lineage", END])
    slot.add_conditional_edges(
        "steer_lineage", flow_.route_after_steer, ["run_turn", "next_lineage", END]
    )
    slot.add_edge("run_turn", "steer_lineage")
    return slot.compile()


def graph_builder(
    *,
    teacher: Teacher | None = None,
    students: list[Student] | None = None,
    sandbox: Sandbox | None = None,
    bank: Bank | None = None,
    summarizer: LLMSummarizer | None = None,
    resolver: ComponentResolver | None = None,
    context_required: bool = True,
) -> StateGraph[RunState, RunContext, RunInput, RunOutput]:
    """The curriculum graph, uncompiled; injected parts win, the rest come from the context."""
    injected = dict(
        teacher=teacher, students=students, sandbox=sandbox, bank=bank, summarizer=summarizer
    )
    if resolver is not None and any(v is not None for v in injected.values()):
        raise ValueError("pass the parts to ComponentResolver(...), or pass them here, not both")
    parts = Parts(resolver or ComponentResolver(**injected), context_required)

    def bind(fn: Any) -> Any:
        return partial(fn, parts=parts)

    turn_graph = _turn_graph(bind)
    slot_graph = _slot_graph(bind, partial(turn_.invoke_turn, turn_graph))

    async def run_turn(state: TurnInput, runtime: Runtime[RunContext]) -> dict[str, Any]:
        """One lineage's turn of a round (turn_graph in the closure: Studio draws it)."""
        return await turn_.invoke_turn(turn_graph, state, parts.context(runtime))

    async def run_slot(state: SlotInput, runtime: Runtime[RunContext]) -> dict[str, Any]:
        """A slot of a flowing run, checkpointed after each of its steps (its own namespace)."""
        final = await slot_graph.ainvoke(state, context=parts.context(runtime))
        return {k: final[k] for k in SlotOutput.__annotations__ if k in final}

    run = StateGraph(
        RunState, context_schema=RunContext, input_schema=RunInput, output_schema=RunOutput
    )
    run.add_node("start_run", bind(run_.start_run))
    run.add_node("schedule_turns", bind(run_.schedule_turns))
    run.add_node("run_turn", run_turn)
    run.add_node("run_slot", run_slot)
    run.add_node("finish_run", bind(run_.finish_run))
    run.add_edge(START, "start_run")
    run.add_edge("start_run", "schedule_turns")
    run.add_conditional_edges(
        "schedule_turns", bind(run_.route_after_schedule), ["run_turn", "run_slot", "finish_run"]
    )
    run.add_edge("run_turn", "schedule_turns")
    run.add_edge("run_slot", "schedule_turns")
    run.add_edge("finish_run", END)
    return run


def build_graph(
    *,
    checkpointer: BaseCheckpointSaver[Any] | None = None,
    teacher: Teacher | None = None,
    students: list[Student] | None = None,
    sandbox: Sandbox | None = None,
    bank: Bank | None = None,
    summarizer: LLMSummarizer | None = None,
    resolver: ComponentResolver | None = None,
    context_required: bool = True,
) -> CompiledStateGraph[RunState, RunContext, RunInput, RunOutput]:
    """The compiled curriculum graph; pass a checkpointer for resumable runs."""
    builder = graph_builder(
        teacher=teacher,
        students=students,
        sandbox=sandbox,
        bank=bank,
        summarizer=summarizer,
        resolver=resolver,
        context_required=context_required,
    )
    return builder.compile(checkpointer=checkpointer, name="curriculum")


graph = build_graph(context_required=False)
"""For langgraph.json / Studio: no checkpointer of its own (the server brings one), and the
defaults where a thread starts with an empty context form."""
