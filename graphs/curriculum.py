"""The stepping-stone curriculum graph (arXiv 2603.24202) as a LangGraph StateGraph.

Run graph: start_run -> schedule_turns -(Send per active lineage)-> run_turn -> schedule_turns
... -> finish_run. `schedule_turns` is the band router: after every round it moves each lineage
harder (too easy), easier (too hard), towards an open band, or to the next seed (bands full,
turns spent), and stops when every quota is filled or the budget is spent.

Turn subgraph (one teacher turn of one lineage): generate_problem -> critique_problem ->
(invalid: generate_problem again as a repair, bounded, else discard_problem) ->
[review_problem: an optional human interrupt] -> (valid) solve_problem -> summarize_performance
-> assign_band.

Each lineage's turn is a subgraph of its own so lineages move independently: a slow teacher
reply holds up its own lineage, not every lineage's next step as one flat graph's supersteps
would. `solve_problem` runs every student concurrently in one task; a Send per student cost
about 1.4 ms more per turn (a task, its checkpoint writes and its merge each) in the
orchestration benchmark (docs/benchmarks.md), and a sandbox failure is re-judged inside the
node before the node's retry re-samples.

How much of a turn is checkpointed is the context's `checkpoints`. "turn" (the default) runs the
subgraph with LangGraph's "exit" durability: a turn is saved only where it pauses for a review
or fails, and a crash redoes the turns that were in flight. "step" also checkpoints after every
node inside a turn (Studio's history and time travel inside it), at 7x the checkpoint data and
1.2-2.7 ms more per turn with SQLite (docs/benchmarks.md).

`build_graph()` returns the uncompiled builder so each caller picks its checkpointer; `graph` is
the checkpointer-free compile that langgraph.json points Studio at.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime
from langgraph.types import RetryPolicy, Send, interrupt

from stepstones.agents.critic import InfraError
from stepstones.agents.student import Student
from stepstones.agents.summarizer import LLMSummarizer, summarize
from stepstones.agents.teacher import Teacher, TeacherRequest
from stepstones.graphs.bands import TOO_EASY, TOO_HARD, band_of, next_move, open_bands
from stepstones.graphs.components import ComponentResolver, Components
from stepstones.graphs.context import RunContext, get_context
from stepstones.graphs.report import build_report
from stepstones.graphs.state import (
    LineageState,
    ReviewDecision,
    RunInput,
    RunOutput,
    RunState,
    TurnInput,
    TurnOutput,
    TurnState,
)
from stepstones.tools.dedup import problem_text
from stepstones.tools.sandbox.base import Sandbox, Submission
from stepstones.tools.schema import (
    Attempt,
    Critique,
    Problem,
    Rejection,
    Seed,
    TurnOutcome,
    Verdict,
)
from stepstones.tools.seeds import load_seeds
from stepstones.tools.store import Bank

INFRA_RETRY = RetryPolicy(max_attempts=3, retry_on=InfraError)
io = asyncio.to_thread
"""Blocking work (SQLite, files) runs off the event loop: LangGraph's server refuses it there."""


def band_counts(outcomes: list[TurnOutcome]) -> Counter[str]:
    """Valid problems per band (too easy / too hard ones are not in any band)."""
    return Counter(o.band for o in outcomes
                   if o.valid and o.band not in (None, TOO_EASY, TOO_HARD))


def graph_builder(
    *,
    teacher: Teacher | None = None,
    students: list[Student] | None = None,
    sandbox: Sandbox | None = None,
    bank: Bank | None = None,
    summarizer: LLMSummarizer | None = None,
    resolver: ComponentResolver | None = None,
) -> StateGraph[RunState, RunContext, RunInput, RunOutput]:
    """The curriculum graph, uncompiled; injected parts win, the rest come from the context."""
    resolver = resolver or ComponentResolver(
        teacher=teacher, students=students, sandbox=sandbox, bank=bank, summarizer=summarizer)

    async def parts(runtime: Runtime[RunContext]) -> tuple[RunContext, Components]:
        ctx = get_context(runtime)
        return ctx, await resolver.get(ctx)

    # -- run graph nodes -------------------------------------------------------------------

    async def start_run(state: RunState, runtime: Runtime[RunContext]) -> dict[str, Any]:
        ctx, comps = await parts(runtime)
        run_id = state.get("run_id") or uuid.uuid4().hex[:12]
        seeds: list[Seed] = state.get("seeds") or []
        if not seeds:
            seeds = await io(load_seeds, ctx.seeds.source, ctx.seeds.limit, ctx.seed)
        if ctx.budget.max_seeds is not None:
            seeds = seeds[: ctx.budget.max_seeds]
        await io(comps.bank.start_run, run_id, ctx.model_dump(mode="json"))
        await io(comps.bank.add_seeds, run_id, seeds)
        return {"run_id": run_id, "queue": seeds, "lineages": {}, "outcomes": [], "counted": 0,
                "round": 0, "stop_reason": None}

    async def schedule_turns(state: RunState, runtime: Runtime[RunContext]) -> dict[str, Any]:
        ctx, comps = await parts(runtime)
        budget, bands = ctx.budget, ctx.bands
        outcomes = state.get("outcomes", [])
        counted = state.get("counted", 0)
        lineages = dict(state.get("lineages", {}))
        counts: Counter[str] = band_counts(outcomes[:counted])
        updates: dict[str, LineageState] = {}
        names = {b.name for b in bands}
        for o in outcomes[counted:]:
            lin = updates.get(o.lineage_id, lineages[o.lineage_id])
            if o.valid and o.band in names:
                # Landing in a full band twice in a row means this lineage has nothing left
                # to give; too easy / too hard turns only steer it and do not count.
                is_open = o.band in {b.name for b in open_bands(counts, bands)}
                counts[o.band] += 1
                lin = lin.model_copy(update={"stale": 0 if is_open else lin.stale + 1})
            updates[o.lineage_id] = lin
        for lid, lin in updates.items():
            last = next(o for o in reversed(outcomes) if o.lineage_id == lid)
            move = next_move(last.pass_rate if last.valid else None, counts, bands)
            reason = None
            if not ctx.multi_turn:
                reason = "single_turn"
            elif lin.turns >= budget.max_turns_per_seed:
                reason = "turns_spent"
            elif lin.stale >= 2:
                reason = "band_full"
            elif move == "next_seed" and any(r.code == "exhausted" for r in last.rejections):
                reason = "exhausted"
            elif move == "next_seed":
                reason = "discarded" if not last.valid else "no_open_band"
            if reason:
                updates[lid] = lin.model_copy(update={"active": False, "stop_reason": reason})
            else:
                updates[lid] = lin.model_copy(update={"direction": move})
        lineages.update(updates)
        queue = state.get("queue", [])
        taken = 0
        calls = sum(o.teacher_calls for o in outcomes)
        stop: str | None = None
        if not open_bands(counts, bands):
            stop = "quotas_filled"
        elif calls >= budget.max_teacher_calls:
            stop = "teacher_budget"
        elif budget.max_wall_s is not None and \
                time.monotonic() - comps.started > budget.max_wall_s:
            stop = "wall_time"
        else:
            active = sum(lin.active for lin in lineages.values())
            while active < ctx.concurrency and taken < len(queue):
                seed = queue[taken]
                taken += 1
                index = len(lineages)
                lid = f"L{index:04d}-{seed.id[:6]}"
                lineages[lid] = updates[lid] = LineageState(lineage_id=lid, index=index,
                                                            seed=seed)
                active += 1
            if not active:
                stop = "seeds_exhausted"
        # Tokens so far, every round: a killed run loses at most one round's accounting.
        await io(comps.bank.set_usage, state["run_id"], comps.meter.totals(), comps.session)
        return {"lineages": updates, "queue": taken, "counted": len(outcomes),
                "round": state.get("round", 0) + 1, "stop_reason": stop}

    def route_after_schedule(state: RunState, runtime: Runtime[RunContext]) -> list[Send] | str:
        if state.get("stop_reason"):
            return "finish_run"
        active = sorted((lin for lin in state["lineages"].values() if lin.active),
                        key=lambda lin: lin.lineage_id)
        # Near the teacher budget, start only as many turns as calls remain (each costs at
        # least one); the overshoot is then at most the repairs of those last turns.
        spent = sum(o.teacher_calls for o in state.get("outcomes", []))
        active = active[: max(1, get_context(runtime).budget.max_teacher_calls - spent)]
        return [Send("run_turn", TurnInput(run_id=state["run_id"], lineage=lin,
                                           round=state.get("round", 0)))
                for lin in active]

    async def finish_run(state: RunState, runtime: Runtime[RunContext]) -> dict[str, Any]:
        ctx, comps = await parts(runtime)
        await io(comps.bank.set_usage, state["run_id"], comps.meter.totals(), comps.session)
        # The report counts what the bank holds (one source of truth); a problem that a
        # replayed turn replaced is retired first, so the report and an export agree.
        await io(comps.bank.retire_orphans, state["run_id"])
        rejections = await io(comps.bank.rejections, state["run_id"])
        report = build_report(state, ctx, await io(comps.bank.usage, state["run_id"]),
                              [r["codes"] for r in rejections],
                              outcomes=await io(comps.bank.turns, state["run_id"]))
        await io(comps.bank.finish_run, state["run_id"], "finished", report)
        return {"report": report}

    # -- turn subgraph nodes ---------------------------------------------------------------

    async def generate_problem(state: TurnState, runtime: Runtime[RunContext]) -> dict[str, Any]:
        _ctx, comps = await parts(runtime)
        lin = state["lineage"]
        critique = state.get("critique")
        repairing = critique is not None and not critique.valid
        repairs = state.get("repairs", 0) + int(repairing)
        request = TeacherRequest(
            seed=lin.seed, lineage_index=lin.index, lineage_id=lin.lineage_id, turn=lin.turns,
            direction=lin.direction, attempt=repairs, parent=lin.parent, summary=lin.summary,
            rejected=state.get("problem") if repairing else None,
            critique=critique if repairing else None,
        )
        result = await comps.teacher.write(request)
        if result.exhausted:
            return {"problem": None, "exhausted": True, "repairs": repairs,
                    "critique": Critique(valid=False, rejections=[Rejection(
                        code="exhausted", message=result.failure or "no variant left")])}
        calls = state.get("teacher_calls", 0) + result.calls
        if result.problem is None:
            malformed = Critique(valid=False, rejections=[Rejection(
                code="malformed", message=f"the reply was not a usable problem: {result.failure}"
            )])
            await io(comps.bank.put_rejection, state["run_id"], lin.lineage_id, lin.turns,
                     repairs, None, malformed)
            return {"problem": None, "critique": malformed, "teacher_calls": calls,
                    "repairs": repairs}
        problem = result.problem
        if problem.lineage.root_id is None and lin.problem_ids:
            problem.lineage.root_id = lin.problem_ids[0]
        return {"problem": problem, "critique": None, "teacher_calls": calls, "repairs": repairs,
                "reviewed": False}

    async def critique_problem(state: TurnState, runtime: Runtime[RunContext]) -> dict[str, Any]:
        problem = state.get("problem")
        if problem is None:
            return {}
        ctx, comps = await parts(runtime)
        lin = state["lineage"]
        # Only problems accepted in earlier rounds count as duplicates: what lineages running
        # beside this one accept in the same round depends on timing, and a run must not.
        exclude = await comps.recent(state["run_id"], state["round"])
        # A variant may resemble its parent; a copy of it (the same content id) is a duplicate.
        if lin.parent and lin.parent.id != problem.id:
            exclude.add(lin.parent.id)
        critique = await comps.critic.review(
            problem, (await comps.dedup(state["run_id"], ctx.critic.dedup_threshold)), exclude)
        if not critique.valid:
            await io(comps.bank.put_rejected, state["run_id"], lin.lineage_id, lin.turns,
                     state.get("repairs", 0), problem, critique)
            return {"critique": critique}
        timed = problem.model_copy(update={"time_limit_s": critique.time_limit_s})
        return {"critique": critique, "problem": timed}

    def repair_or_discard(state: TurnState, runtime: Runtime[RunContext]) -> str:
        if state.get("exhausted"):
            return "discard_problem"
        if state.get("repairs", 0) < get_context(runtime).budget.max_repairs:
            return "generate_problem"
        return "discard_problem"

    def route_after_critique(state: TurnState, runtime: Runtime[RunContext]) -> str:
        critique, problem = state.get("critique"), state.get("problem")
        if critique is not None and critique.valid and problem is not None:
            if get_context(runtime).human_review:
                return "review_problem"
            return "solve_problem"
        return repair_or_discard(state, runtime)

    async def review_problem(state: TurnState, runtime: Runtime[RunContext]) -> dict[str, Any]:
        """Human in the loop (off by default): approve, edit or reject before students see it."""
        _ctx, comps = await parts(runtime)
        problem, lin = state["problem"], state["lineage"]
        if problem is None:
            raise RuntimeError("review_problem reached without a problem")
        answer = interrupt({
            "kind": "review_problem", "lineage_id": lin.lineage_id, "turn": lin.turns,
            "problem": problem.model_dump(mode="json", exclude={"wrong_solutions"}),
            "answer_with": {"action": "approve | edit | reject",
                            "problem": "fields to change (edit)", "reason": "why (reject)"},
        })
        decision = ReviewDecision.model_validate(
            answer if isinstance(answer, dict) else {"action": str(answer)})
        if decision.action == "approve":
            return {"reviewed": True}
        if decision.action == "edit":
            fields = {**problem.model_dump(), **decision.problem, "id": ""}
            return {"problem": Problem.model_validate(fields), "critique": None,
                    "reviewed": False}
        critique = Critique(valid=False, rejections=[Rejection(
            code="reviewer_rejected", message=decision.reason[:500])])
        await io(comps.bank.put_rejected, state["run_id"], lin.lineage_id, lin.turns,
                 state.get("repairs", 0), problem, critique)
        return {"critique": critique, "reviewed": False}

    def route_after_review(state: TurnState, runtime: Runtime[RunContext]) -> str:
        if state.get("reviewed"):
            return "solve_problem"
        if state.get("critique") is None:
            return "critique_problem"  # an edited problem is checked again
        return repair_or_discard(state, runtime)

    async def solve_as(name: str, problem: Problem, ctx: RunContext,
                       comps: Components) -> list[Attempt]:
        """One student's k samples, each judged in the sandbox."""
        solutions = await comps.students[name].solve(
            problem, ctx.student_samples.get(name, ctx.samples))
        coded = [(i, s) for i, s in enumerate(solutions) if s.code is not None]
        verdicts = await comps.sandbox.run(
            [Submission.for_problem(problem, s.code or "") for _, s in coded])
        retry = [j for j, v in enumerate(verdicts) if v.status == "sandbox_error"]
        if retry:
            again = await comps.sandbox.run(
                [Submission.for_problem(problem, coded[j][1].code or "") for j in retry])
            for j, v in zip(retry, again, strict=True):
                if v.status == "sandbox_error":
                    raise InfraError(f"sandbox failed judging {name}'s attempt: {v.error}")
                verdicts[j] = v
        by_sample = {i: v for (i, _), v in zip(coded, verdicts, strict=True)}
        attempts = []
        for i, s in enumerate(solutions):
            verdict = by_sample.get(i) or Verdict(
                status="wrong_answer", total=len(problem.tests),
                error=s.error or "no code in the reply")
            attempts.append(Attempt(problem_id=problem.id, student=name, sample=i, code=s.code,
                                    raw=s.raw, verdict=verdict))
        return attempts

    async def solve_problem(state: TurnState, runtime: Runtime[RunContext]) -> dict[str, Any]:
        """Every student at once (one task, not a Send per student: see the module docstring)."""
        ctx, comps = await parts(runtime)
        problem = state.get("problem")
        if problem is None:
            raise RuntimeError("solve_problem reached without a problem")
        per_student = await asyncio.gather(
            *(solve_as(name, problem, ctx, comps) for name in comps.students))
        # Banked with the turn's result (assign_band); until then the checkpoint holds them.
        return {"attempts": [a for attempts in per_student for a in attempts]}

    async def summarize_performance(
        state: TurnState, runtime: Runtime[RunContext]
    ) -> dict[str, Any]:
        _ctx, comps = await parts(runtime)
        problem = state.get("problem")
        if problem is None:
            raise RuntimeError("summarize_performance reached without a problem")
        names = sorted({a.student for a in state.get("attempts", [])})
        summary = summarize(problem, state.get("attempts", []), names)
        if comps.summarizer is not None:
            summary = await comps.summarizer.annotate(problem, state.get("attempts", []), summary)
        return {"summary": summary}

    async def assign_band(state: TurnState, runtime: Runtime[RunContext]) -> dict[str, Any]:
        ctx, comps = await parts(runtime)
        lin, summary, problem = state["lineage"], state.get("summary"), state.get("problem")
        if summary is None or problem is None:
            raise RuntimeError("assign_band reached without a problem and its summary")
        band = band_of(summary.pass_rate, ctx.bands)
        banded = problem.model_copy(update={
            "band": band, "pass_rate": summary.pass_rate,
            "pass_rates": {s.student: s.pass_rate for s in summary.students}})
        outcome = TurnOutcome(
            lineage_id=lin.lineage_id, seed_id=lin.seed.id, turn=lin.turns,
            round=state["round"], direction=lin.direction,
            teacher_calls=state.get("teacher_calls", 0), problem_id=banded.id, valid=True,
            band=band, pass_rate=summary.pass_rate)
        # One transaction per banded turn: problem, attempts, summary and turn record together,
        # unless another turn banked this very problem first (a lineage beside this one in the
        # same round, which the critic's duplicate check leaves out): then it is a duplicate.
        holder = await io(comps.bank.put_turn_result, state["run_id"], lin.lineage_id, banded,
                          state.get("attempts", []), summary, outcome)
        if holder is not None:
            return await discard_duplicate(state, comps, banded, holder)
        (await comps.dedup(state["run_id"], ctx.critic.dedup_threshold)).add(
            banded.id, problem_text(banded))
        comps.accepted_in(state["run_id"], banded.id, state["round"])
        grown = lin.model_copy(update={
            "turns": lin.turns + 1, "parent": banded, "summary": summary,
            "problem_ids": [*lin.problem_ids, banded.id]})
        return {"outcomes": [outcome], "lineages": {lin.lineage_id: grown}}

    async def discard_duplicate(state: TurnState, comps: Components, problem: Problem,
                                holder: str) -> dict[str, Any]:
        """End a turn whose problem another turn banked first: a recorded duplicate."""
        lin = state["lineage"]
        critique = Critique(valid=False, rejections=[Rejection(
            code="duplicate", message=f"the same problem as {problem.id}, banked by {holder}")])
        await io(comps.bank.put_rejected, state["run_id"], lin.lineage_id, lin.turns,
                 state.get("repairs", 0), problem, critique)
        return await discarded(state, comps, critique)

    async def discard_problem(state: TurnState, runtime: Runtime[RunContext]) -> dict[str, Any]:
        _ctx, comps = await parts(runtime)
        return await discarded(state, comps)

    async def discarded(state: TurnState, comps: Components,
                        critique: Critique | None = None) -> dict[str, Any]:
        """The turn's outcome without a problem: recorded, and the lineage's turn spent."""
        lin, critique = state["lineage"], critique or state.get("critique")
        outcome = TurnOutcome(
            lineage_id=lin.lineage_id, seed_id=lin.seed.id, turn=lin.turns,
            round=state["round"], direction=lin.direction,
            teacher_calls=state.get("teacher_calls", 0),
            problem_id=p.id if (p := state.get("problem")) else None, valid=False,
            discarded=True, rejections=critique.rejections if critique else [])
        await io(comps.bank.put_turn, state["run_id"], outcome)
        return {"outcomes": [outcome],
                "lineages": {lin.lineage_id: lin.model_copy(update={"turns": lin.turns + 1})}}

    # -- wiring ----------------------------------------------------------------------------

    turn = StateGraph(TurnState, context_schema=RunContext, input_schema=TurnInput,
                      output_schema=TurnOutput)
    turn.add_node(generate_problem)
    turn.add_node(critique_problem, retry_policy=INFRA_RETRY)
    turn.add_node(review_problem)
    turn.add_node(solve_problem, retry_policy=INFRA_RETRY)
    turn.add_node(summarize_performance)
    turn.add_node(assign_band)
    turn.add_node(discard_problem)
    turn.add_edge(START, "generate_problem")
    turn.add_edge("generate_problem", "critique_problem")
    turn.add_conditional_edges(
        "critique_problem", route_after_critique,
        ["review_problem", "solve_problem", "generate_problem", "discard_problem"])
    turn.add_conditional_edges(
        "review_problem", route_after_review,
        ["solve_problem", "critique_problem", "generate_problem", "discard_problem"])
    turn.add_edge("solve_problem", "summarize_performance")
    turn.add_edge("summarize_performance", "assign_band")
    turn.add_edge("assign_band", END)
    turn.add_edge("discard_problem", END)

    turn_graph = turn.compile()

    async def run_turn(state: TurnInput, runtime: Runtime[RunContext]) -> dict[str, Any]:
        """One lineage's turn: the turn subgraph, checkpointed per the context's `checkpoints`.

        Durability "exit" on a nested graph writes a checkpoint only when the turn pauses on an
        interrupt or fails, so a review still resumes where it paused; the finished turn is
        recorded by the run graph's own writes. Invoked from this node (not added as the node
        itself) because durability is chosen per invocation; Studio still sees the subgraph,
        and the run's config (thread, checkpointer, namespace) reaches it through the context
        variable LangGraph sets for the node.
        """
        per_step = get_context(runtime).checkpoints == "step"
        return await turn_graph.ainvoke(state, durability=None if per_step else "exit")

    run = StateGraph(RunState, context_schema=RunContext, input_schema=RunInput,
                     output_schema=RunOutput)
    run.add_node(start_run)
    run.add_node(schedule_turns)
    run.add_node("run_turn", run_turn)
    run.add_node(finish_run)
    run.add_edge(START, "start_run")
    run.add_edge("start_run", "schedule_turns")
    run.add_conditional_edges("schedule_turns", route_after_schedule, ["run_turn", "finish_run"])
    run.add_edge("run_turn", "schedule_turns")
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
) -> CompiledStateGraph[RunState, RunContext, RunInput, RunOutput]:
    """The compiled curriculum graph; pass a checkpointer for resumable runs."""
    builder = graph_builder(teacher=teacher, students=students, sandbox=sandbox, bank=bank,
                            summarizer=summarizer, resolver=resolver)
    return builder.compile(checkpointer=checkpointer, name="curriculum")


graph = build_graph()
"""For langgraph.json / Studio: no checkpointer of its own (the server brings one)."""
