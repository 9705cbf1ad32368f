"""The turn subgraph's nodes: one teacher turn of one lineage, from draft to band.

generate_problem -> critique_problem -> (invalid: generate_problem again as a repair, bounded,
else discard_problem) -> [review_problem: an optional human interrupt] -> (valid)
solve_problem -> summarize_performance -> assign_band. A turn in which no student sample could
be judged (every model call failed) is discarded without a band.

`solve_problem` runs every student concurrently in one task (a Send per student measured
slower in the orchestration benchmark, docs/benchmarks.md), and a sandbox failure is re-judged
inside the node before the node's retry re-samples. Each node takes
`parts` (bound by the wiring in `graphs/curriculum.py`) to reach its context and components.
"""

from __future__ import annotations

import asyncio
from typing import Any

from langgraph.runtime import Runtime
from langgraph.types import interrupt

from stepstones.agents.critic import InfraError
from stepstones.agents.sim_environments import derived_problem
from stepstones.agents.student import Solution
from stepstones.agents.summarizer import summarize
from stepstones.agents.teacher import TeacherRequest, TeacherResult, lineage_of, variant_key
from stepstones.graphs.bands import band_of
from stepstones.graphs.components import Components, Parts
from stepstones.graphs.context import RunContext
from stepstones.graphs.state import ReviewDecision, TurnInput, TurnOutput, TurnState
from stepstones.tools.dedup import problem_text
from stepstones.tools.environments import SandboxFailure, get_environment
from stepstones.tools.sandbox.base import Submission
from stepstones.tools.schema import (
    Attempt,
    Critique,
    ModelFailure,
    Problem,
    Rejection,
    TurnOutcome,
    Verdict,
)

in_thread = asyncio.to_thread
"""Blocking work (SQLite, files) runs off the event loop: LangGraph's server refuses it there."""


TURN_KEYS = list(TurnState.__annotations__)


async def invoke_turn(turn_graph: Any, state: TurnInput, ctx: RunContext) -> dict[str, Any]:
    """One lineage's turn: the turn subgraph invoked (not added as a node) so that durability is
    per invocation. "exit" writes a nested checkpoint only when the turn pauses or fails, so a
    review resumes where it paused; the caller's config reaches it through LangGraph's context
    var. Returns the TurnOutput keys."""
    # `updates` are filtered to the invocation's output keys: with TurnOutput's two, Studio
    # streamed null for every node but assign_band. Reading every key shows each node's
    # problem, critique, attempts and summary; the caller still gets only TurnOutput.
    final = await turn_graph.ainvoke(
        state,
        context=ctx,
        output_keys=TURN_KEYS,
        durability=None if ctx.checkpoints == "step" else "exit",
    )
    return {k: final[k] for k in TurnOutput.__annotations__ if k in final}


async def generate_problem(
    state: TurnState, runtime: Runtime[RunContext], *, parts: Parts
) -> dict[str, Any]:
    """A draft from the teacher, or its repair after a rejection; a reply that is no problem
    is a recorded `malformed` rejection, a failed model call a ModelFailure."""
    _ctx, comps = await parts.get(runtime, state["run_id"])
    lin = state["lineage"]
    critique = state.get("critique")
    repairing = critique is not None and not critique.valid
    repairs = state.get("repairs", 0) + int(repairing)
    request = TeacherRequest(
        seed=lin.seed,
        lineage_index=lin.index,
        lineage_id=lin.lineage_id,
        turn=lin.turns,
        direction=lin.direction,
        attempt=repairs,
        parent=lin.parent,
        summary=lin.summary,
        rejected=state.get("problem") if repairing else None,
        rejected_reply=state.get("rejected_reply") if repairing else None,
        critique=critique if repairing else None,
        target=lin.target,
        environment=lin.environment,
        used=state.get("used_variants", []),
    )
    result = await comps.teacher.write(request)
    if not result.exhausted and not result.model_error:
        result = await build_problem(result, request, comps)
    if result.exhausted:
        return {
            "problem": None,
            "exhausted": True,
            "repairs": repairs,
            "critique": Critique(
                valid=False,
                rejections=[
                    Rejection(code="exhausted", message=result.failure or "no variant left")
                ],
            ),
        }
    calls = state.get("teacher_calls", 0) + result.calls
    if result.model_error:
        failure = ModelFailure(
            model=comps.teacher.name,
            role="teacher",
            error=result.failure or "the model call failed",
        )
        return {
            "problem": None,
            "critique": None,
            "teacher_calls": calls,
            "repairs": repairs,
            "model_failures": [failure],
        }
    if result.problem is None:
        malformed = Critique(
            valid=False,
            rejections=result.rejections
            or [
                Rejection(
                    code="malformed",
                    message=f"the reply was not a usable problem: {result.failure}",
                )
            ],
        )
        await in_thread(
            comps.bank.put_rejection,
            state["run_id"],
            lin.lineage_id,
            lin.turns,
            repairs,
            None,
            malformed,
        )
        return {
            "problem": None,
            "critique": malformed,
            "teacher_calls": calls,
            "repairs": repairs,
            "rejected_reply": result.raw,
        }
    problem = result.problem
    if problem.lineage.root_id is None and lin.problem_ids:
        problem.lineage.root_id = lin.problem_ids[0]
    return {
        "problem": problem,
        "critique": None,
        "teacher_calls": calls,
        "repairs": repairs,
        "reviewed": False,
        "rejected_reply": None,
    }


async def build_problem(
    result: TeacherResult, request: TeacherRequest, comps: Components
) -> TeacherResult:
    """The teacher's draft as a problem, every gold answer computed by running its programs in
    the sandbox (never taken from the teacher); or the build's reasons as rejections.

    The procedural teacher's family problem is derived into the lineage's environment here
    (simulation mode); a code problem it wrote is already built (its gold is the family's own
    reference run on its inputs)."""
    env = result.environment
    try:
        if result.draft is not None:
            built = await get_environment(env).build(
                result.draft, lineage_of(request), comps.sandbox
            )
        elif result.problem is not None and result.problem.environment != env:
            derived = await derived_problem(result.problem, env, lineage_of(request), comps.sandbox)
            if derived is None:
                return TeacherResult(
                    exhausted=True,
                    calls=result.calls,
                    failure=(f"task family {result.problem.family} has no {env} form"),
                )
            built = derived
        else:
            return result
    except SandboxFailure as exc:
        raise InfraError(f"sandbox failed computing gold answers: {exc}") from exc
    if isinstance(built, list):
        reply = result.draft.model_dump_json(indent=1) if result.draft is not None else result.raw
        return TeacherResult(
            failure="; ".join(r.message for r in built)[:500],
            raw=reply,
            rejections=built,
            calls=result.calls,
            environment=env,
        )
    return result.model_copy(update={"problem": built, "draft": None})


async def critique_problem(
    state: TurnState, runtime: Runtime[RunContext], *, parts: Parts
) -> dict[str, Any]:
    """The critic's verdict on the draft; a rejection is banked with its reasons."""
    problem = state.get("problem")
    if problem is None:
        return {}
    ctx, comps = await parts.get(runtime, state["run_id"])
    lin = state["lineage"]
    # The index first: on a resume it is rebuilt from the bank here, and only then does
    # `recent` know which of its problems come from the round being replayed.
    index = await comps.dedup(state["run_id"], ctx.critic.dedup_threshold)
    # Only problems accepted in earlier rounds count as duplicates: what lineages running
    # beside this one accept in the same round depends on timing, and a run must not.
    exclude = await comps.recent(state["run_id"], state["round"])
    # A variant may resemble its parent; a copy of it (the same content id) is a duplicate.
    if lin.parent and lin.parent.id != problem.id:
        exclude.add(lin.parent.id)
    critique = await comps.critic.review(problem, index, exclude)
    if not critique.valid:
        await _bank_rejection(state, comps, problem, critique)
        return {"critique": critique}
    timed = problem.model_copy(update={"time_limit_s": critique.time_limit_s})
    return {"critique": critique, "problem": timed}


def repair_or_discard(state: TurnState, ctx: RunContext) -> str:
    """Another draft while repairs are left; none after a model failure or a spent family."""
    if state.get("exhausted") or state.get("model_failures"):
        return "discard_problem"
    if state.get("repairs", 0) < ctx.budget.max_repairs:
        return "generate_problem"
    return "discard_problem"


def route_after_critique(state: TurnState, runtime: Runtime[RunContext], *, parts: Parts) -> str:
    """Valid: to review (when asked) or the students; invalid: repair or discard."""
    critique, problem = state.get("critique"), state.get("problem")
    if critique is not None and critique.valid and problem is not None:
        if parts.context(runtime).human_review:
            return "review_problem"
        return "solve_problem"
    return repair_or_discard(state, parts.context(runtime))


async def review_problem(
    state: TurnState, runtime: Runtime[RunContext], *, parts: Parts
) -> dict[str, Any]:
    """Human in the loop (off by default): approve, edit or reject before students see it."""
    _ctx, comps = await parts.get(runtime, state["run_id"])
    problem, lin = state["problem"], state["lineage"]
    if problem is None:
        raise RuntimeError("review_problem reached without a problem")
    answer = interrupt(
        {
            "kind": "review_problem",
            "lineage_id": lin.lineage_id,
            "turn": lin.turns,
            "problem": problem.model_dump(mode="json", exclude={"wrong_solutions"}),
            "answer_with": {
                "action": "approve | edit | reject",
                "problem": "fields to change (edit)",
                "reason": "why (reject)",
            },
        }
    )
    decision = ReviewDecision.model_validate(
        answer if isinstance(answer, dict) else {"action": str(answer)}
    )
    if decision.action == "approve":
        return {"reviewed": True}
    if decision.action == "edit":
        fields = {**problem.model_dump(), **decision.problem, "id": ""}
        return {"problem": Problem.model_validate(fields), "critique": None, "reviewed": False}
    critique = Critique(
        valid=False, rejections=[Rejection(code="reviewer_rejected", message=decision.reason[:500])]
    )
    await _bank_rejection(state, comps, problem, critique)
    return {"critique": critique, "reviewed": False}


def route_after_review(state: TurnState, runtime: Runtime[RunContext], *, parts: Parts) -> str:
    """Approved: to the students; edited: checked again; rejected: repair or discard."""
    if state.get("reviewed"):
        return "solve_problem"
    if state.get("critique") is None:
        return "critique_problem"  # an edited problem is checked again
    return repair_or_discard(state, parts.context(runtime))


def submission(problem: Problem, solution: Solution) -> Submission | None:
    """The sandbox job that judges one answer: code against the tests, or the answer in the
    problem's environment's form (None: no usable answer, a wrong answer without a run).

    A sample passes or fails as a whole, so its run stops at the first failed test.
    """
    if problem.environment == "code":
        sub = None if solution.code is None else Submission.for_problem(problem, solution.code)
    else:
        reply = solution.raw if solution.raw is not None else (solution.code or "")
        sub = get_environment(problem.environment).submission(problem, reply)
    return None if sub is None else sub.model_copy(update={"stop_on_failure": True})


async def solve_as(
    name: str, problem: Problem, ctx: RunContext, comps: Components
) -> tuple[list[Attempt], ModelFailure | None]:
    """One student's k samples, each judged in the sandbox, and what its model failed to give.

    A sample whose model call failed (after the sampling layer's retries) is no attempt:
    it is reported as a ModelFailure and counts in no pass rate, band or reward.
    """
    solutions = await comps.students[name].solve(
        problem, ctx.student_samples.get(name, ctx.samples)
    )
    failed = [s for s in solutions if s.error is not None]
    answered = [(i, s) for i, s in enumerate(solutions) if s.error is None]
    jobs = [(i, sub) for i, s in answered if (sub := submission(problem, s)) is not None]
    verdicts = await comps.sandbox.run([sub for _, sub in jobs])
    retry = [j for j, v in enumerate(verdicts) if v.status == "sandbox_error"]
    if retry:
        again = await comps.sandbox.run([jobs[j][1] for j in retry])
        for j, v in zip(retry, again, strict=True):
            if v.status == "sandbox_error":
                raise InfraError(f"sandbox failed judging {name}'s attempt: {v.error}")
            verdicts[j] = v
    by_sample = {i: v for (i, _), v in zip(jobs, verdicts, strict=True)}
    attempts = []
    for i, s in answered:
        verdict = by_sample.get(i) or Verdict(
            status="wrong_answer",
            total=len(problem.tests),
            error="no code in the reply"
            if problem.environment == "code"
            else "no usable answer in the reply",
        )
        attempts.append(
            Attempt(
                problem_id=problem.id,
                student=name,
                sample=i,
                code=s.code,
                raw=s.raw,
                verdict=verdict,
            )
        )
    failure = None
    if failed:
        failure = ModelFailure(
            model=name, samples=len(failed), error=failed[0].error or "the model call failed"
        )
    return attempts, failure


async def solve_problem(
    state: TurnState, runtime: Runtime[RunContext], *, parts: Parts
) -> dict[str, Any]:
    """Every student at once (one task, not a Send per student: see the module docstring)."""
    ctx, comps = await parts.get(runtime, state["run_id"])
    problem = state.get("problem")
    if problem is None:
        raise RuntimeError("solve_problem reached without a problem")
    names = [n for n in comps.students if n not in set(state.get("dropped", []))]
    per_student = await asyncio.gather(*(solve_as(n, problem, ctx, comps) for n in names))
    # Banked with the turn's result (assign_band); until then the checkpoint holds them.
    return {
        "attempts": [a for attempts, _ in per_student for a in attempts],
        "model_failures": [f for _, f in per_student if f is not None],
        "answered": [n for n, (_, f) in zip(names, per_student, strict=True) if f is None],
    }


def route_after_solve(state: TurnState, runtime: Runtime[RunContext], *, parts: Parts) -> str:
    """To the summary; a turn with no judged sample (of the target student, when there is
    one) has nothing to measure the problem by."""
    target = parts.context(runtime).target_student
    attempts = [a for a in state.get("attempts", []) if target in (None, a.student)]
    return "summarize_performance" if attempts else "discard_problem"


async def summarize_performance(
    state: TurnState, runtime: Runtime[RunContext], *, parts: Parts
) -> dict[str, Any]:
    """The performance summary the teacher reads next turn (an LLM adds its reading if set)."""
    ctx, comps = await parts.get(runtime, state["run_id"])
    problem = state.get("problem")
    if problem is None:
        raise RuntimeError("summarize_performance reached without a problem")
    names = sorted({a.student for a in state.get("attempts", [])})
    summary = summarize(problem, state.get("attempts", []), names, target=ctx.target_student)
    if comps.summarizer is not None:
        summary = await comps.summarizer.annotate(problem, state.get("attempts", []), summary)
    return {"summary": summary}


async def assign_band(
    state: TurnState, runtime: Runtime[RunContext], *, parts: Parts
) -> dict[str, Any]:
    """Band the problem by its pass rate and bank the turn in one transaction."""
    ctx, comps = await parts.get(runtime, state["run_id"])
    lin, summary, problem = state["lineage"], state.get("summary"), state.get("problem")
    if summary is None or problem is None:
        raise RuntimeError("assign_band reached without a problem and its summary")
    band = band_of(summary.pass_rate, ctx.bands, ctx.band_gaps)
    banded = problem.model_copy(
        update={
            "band": band,
            "pass_rate": summary.pass_rate,
            "pass_rates": {s.student: s.pass_rate for s in summary.students},
        }
    )
    outcome = TurnOutcome(
        lineage_id=lin.lineage_id,
        seed_id=lin.seed.id,
        turn=lin.turns,
        round=state["round"],
        direction=lin.direction,
        teacher_calls=state.get("teacher_calls", 0),
        problem_id=banded.id,
        valid=True,
        band=band,
        pass_rate=summary.pass_rate,
        model_failures=state.get("model_failures", []),
        answered=state.get("answered", []),
        variant=variant_key(banded),
    )
    # One transaction per banded turn: problem, attempts, summary and turn record together,
    # unless another turn banked this very problem first (a lineage beside this one in the
    # same round, which the critic's duplicate check leaves out): then it is a duplicate.
    comps.scope(state["run_id"]).begin_record(lin.lineage_id)
    holder = await in_thread(
        comps.bank.put_turn_result,
        state["run_id"],
        lin.lineage_id,
        banded,
        state.get("attempts", []),
        summary,
        outcome,
    )
    if holder is not None:
        critique = Critique(
            valid=False,
            rejections=[
                Rejection(
                    code="duplicate", message=f"the same problem as {banded.id}, banked by {holder}"
                )
            ],
        )
        await _bank_rejection(state, comps, banded, critique)
        return await _discarded(state, comps, critique)
    (await comps.dedup(state["run_id"], ctx.critic.dedup_threshold)).add(
        banded.id, problem_text(banded)
    )
    comps.accepted_in(state["run_id"], banded.id, state["round"])
    grown = lin.model_copy(
        update={
            "turns": lin.turns + 1,
            "parent": banded,
            "summary": summary,
            "problem_ids": [*lin.problem_ids, banded.id],
        }
    )
    return {"outcomes": [outcome], "lineages": {lin.lineage_id: grown}}


async def discard_problem(
    state: TurnState, runtime: Runtime[RunContext], *, parts: Parts
) -> dict[str, Any]:
    """End a turn without a banded problem: recorded, and the lineage's turn spent."""
    _ctx, comps = await parts.get(runtime, state["run_id"])
    return await _discarded(state, comps, state.get("critique"))


async def _bank_rejection(
    state: TurnState, comps: Components, problem: Problem, critique: Critique
) -> None:
    """A rejected draft into the bank, with its reasons, at this turn and repair."""
    lin = state["lineage"]
    await in_thread(
        comps.bank.put_rejected,
        state["run_id"],
        lin.lineage_id,
        lin.turns,
        state.get("repairs", 0),
        problem,
        critique,
    )


async def _discarded(
    state: TurnState, comps: Components, critique: Critique | None
) -> dict[str, Any]:
    lin = state["lineage"]
    problem = state.get("problem")
    rejections = critique.rejections if critique and not critique.valid else []
    outcome = TurnOutcome(
        lineage_id=lin.lineage_id,
        seed_id=lin.seed.id,
        turn=lin.turns,
        round=state["round"],
        direction=lin.direction,
        teacher_calls=state.get("teacher_calls", 0),
        problem_id=problem.id if problem else None,
        valid=False,
        discarded=True,
        rejections=rejections,
        model_failures=state.get("model_failures", []),
        answered=state.get("answered", []),
        # A variant whose drafts were all rejected is given up on; a model failure is not its.
        variant=variant_key(problem) if problem and rejections else None,
    )
    comps.scope(state["run_id"]).begin_record(lin.lineage_id)
    await in_thread(comps.bank.put_turn, state["run_id"], outcome)
    return {
        "outcomes": [outcome],
        "lineages": {lin.lineage_id: lin.model_copy(update={"turns": lin.turns + 1})},
    }
