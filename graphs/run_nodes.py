"""The run graph's nodes: start a run, schedule each round's turns, finish with the report.

`schedule_turns` is the band router. After every round it moves each lineage harder (too
easy), easier (too hard), towards an open band, or ends it (`bands.lineage_stop`), starts new
lineages from the seed queue up to the run's concurrency, and stops the run when
`bands.run_stop` says so. Each node takes `parts` (bound by the wiring in
`graphs/curriculum.py`) to reach its context and components.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from typing import Any

from langgraph.runtime import Runtime
from langgraph.types import Send

from stepstones.graphs.bands import (
    admit_turns,
    aimed_band,
    band_counts,
    open_bands,
    open_slots,
)
from stepstones.graphs.components import Components, Parts
from stepstones.graphs.context import RunContext
from stepstones.graphs.flow import ledger, next_step, run_stop_reason, slot_positions
from stepstones.graphs.health import health_key, newly_dropped, track
from stepstones.graphs.report import build_report
from stepstones.graphs.state import LineageState, RunState, SlotInput, TurnInput
from stepstones.tools.quotas import counting_order
from stepstones.tools.schema import ModelDrop, Seed, TurnOutcome
from stepstones.tools.seeds import load_seeds

in_thread = asyncio.to_thread
"""Blocking work (SQLite, files) runs off the event loop: LangGraph's server refuses it there."""


def context_seeds(ctx: RunContext) -> list[Seed]:
    """The seeds the context's source gives (start_run's, and the runner's ahead of it)."""
    return load_seeds(ctx.seeds.source, ctx.seeds.limit, ctx.seed, ctx.seeds)


async def start_run(
    state: RunState, runtime: Runtime[RunContext], *, parts: Parts
) -> dict[str, Any]:
    """Record the run and its seeds in the bank; the run's scope starts its clock here.

    The seeds are the input's (the runner loads a new run's while the sandbox starts; Studio
    may pass its own), else loaded from the context's source.
    """
    run_id = state.get("run_id") or uuid.uuid4().hex[:12]
    ctx, comps = await parts.get(runtime, run_id)
    comps.scope(run_id)
    seeds: list[Seed] = state.get("seeds") or []
    if not seeds:
        seeds = await in_thread(context_seeds, ctx)
    if ctx.budget.max_seeds is not None:
        seeds = seeds[: ctx.budget.max_seeds]
    await in_thread(comps.bank.start_run, run_id, ctx.model_dump(mode="json"))
    await in_thread(comps.bank.add_seeds, run_id, seeds)
    return {
        "run_id": run_id,
        "seeds": [],  # the queue holds them now: no checkpoint after this one copies them again
        "queue": seeds,
        "lineages": {},
        "outcomes": [],
        "counted": 0,
        "round": 0,
        "stop_reason": None,
        "model_health": {},
        "dropped": {},
    }


async def schedule_turns(
    state: RunState, runtime: Runtime[RunContext], *, parts: Parts
) -> dict[str, Any]:
    """Count the last round, move or end each lineage, start new ones, or stop the run."""
    ctx, comps = await parts.get(runtime, state["run_id"])
    if ctx.flowing:
        return await _schedule_flow(state, ctx, comps)
    bands = ctx.bands
    outcomes = state.get("outcomes", [])
    counted = state.get("counted", 0)
    lineages = dict(state.get("lineages", {}))
    counts: Counter[str] = band_counts(outcomes[:counted])
    updates: dict[str, LineageState] = {}
    names = {b.name for b in bands}
    health = dict(state.get("model_health", {}))
    dropped = dict(state.get("dropped", {}))
    drops: list[ModelDrop] = []
    for o in sorted(outcomes[counted:], key=counting_order):
        health = track(health, o, comps.teacher.name)
        for drop in newly_dropped(health, dropped, o, state.get("round", 0) + 1):
            dropped[health_key(drop.role, drop.model)] = drop
            drops.append(drop)
        lin = updates.get(o.lineage_id, lineages[o.lineage_id])
        if o.valid and o.band in names:
            # Landing in a full band twice in a row means this lineage has nothing left
            # to give; too easy / too hard turns only steer it and do not count.
            is_open = o.band in {b.name for b in open_bands(counts, bands)}
            counts[o.band] += 1
            lin = lin.model_copy(update={"stale": 0 if is_open else lin.stale + 1})
        updates[o.lineage_id] = lin
    # A lineage held back last round (admit_turns) is steered again: its band may be full now.
    held = {
        lid: lin for lid, lin in lineages.items() if lin.active and lid not in updates and lin.turns
    }
    for lid, lin in [*updates.items(), *held.items()]:
        last = next(o for o in reversed(outcomes) if o.lineage_id == lid)
        updates[lid] = next_step(lin, last, counts, ctx)
    lineages.update(updates)
    for drop in drops:
        await in_thread(comps.bank.put_model_drop, state["run_id"], drop)
    queue = state.get("queue", [])
    taken = 0
    stop = run_stop_reason(
        ctx,
        comps,
        counts,
        dropped,
        sum(o.teacher_calls for o in outcomes),
        lambda: used_variants(outcomes),
        comps.scope(state["run_id"]).started,
    )
    if stop is None:
        active = sum(lin.active for lin in lineages.values())
        # No more lineages in flight than the bands have open slots (admit_turns).
        room = min(ctx.lineages_in_flight, sum(open_slots(counts, bands).values()))
        while active < room and taken < len(queue):
            seed = queue[taken]
            taken += 1
            index = len(lineages)
            lid = f"L{index:04d}-{seed.id[:6]}"
            lineages[lid] = updates[lid] = LineageState(
                lineage_id=lid, index=index, seed=seed, environment=ctx.environment_for(index)
            )
            active += 1
        if not active:
            stop = "seeds_exhausted"
    # Tokens and calls so far, every round: a killed run loses at most one round's accounting.
    await _store_accounting(comps, state["run_id"])
    return {
        "lineages": updates,
        "queue": taken,
        "counted": len(outcomes),
        "round": state.get("round", 0) + 1,
        "stop_reason": stop,
        "model_health": health,
        "dropped": dropped,
    }


async def _schedule_flow(state: RunState, ctx: RunContext, comps: Components) -> dict[str, Any]:
    """Under flow the slots route every lineage themselves (graphs/flow.py): this node sends
    them the whole queue once, and when they have all ended, says why the run stopped."""
    if not state.get("round"):
        return {"round": 1}
    book = await ledger(comps, ctx, state["run_id"])
    stop = book.stop_reason(ctx, comps, comps.scope(state["run_id"]).started)
    await _store_accounting(comps, state["run_id"])
    return {
        "queue": len(state.get("queue", [])),
        "counted": len(state.get("outcomes", [])),
        "round": state["round"] + 1,
        "stop_reason": stop or "seeds_exhausted",
        "model_health": book.health,
        "dropped": book.dropped,
    }


def used_variants(outcomes: list[TurnOutcome]) -> list[str]:
    """Variants the run banked or gave up on (TurnOutcome.variant), sorted."""
    return sorted({o.variant for o in outcomes if o.variant is not None})


def route_after_schedule(
    state: RunState, runtime: Runtime[RunContext], *, parts: Parts
) -> list[Send] | str:
    """A Send per admitted active lineage (its turn), or finish_run once a stop reason is set.

    A lineage whose band has no slot left for another turn in flight waits (admit_turns).
    """
    if state.get("stop_reason"):
        return "finish_run"
    ctx = parts.context(runtime)
    if ctx.flowing:
        queue = state.get("queue", [])
        slots = max(1, min(ctx.lineages_in_flight, len(queue)))
        shares = [slot_positions(len(queue), slot, slots) for slot in range(slots)]
        return [
            Send(
                "run_slot",
                SlotInput(
                    run_id=state["run_id"],
                    slot=slot,
                    seeds=[queue[i] for i in positions],
                    positions=positions,
                ),
            )
            for slot, positions in enumerate(shares)
        ]
    outcomes = state.get("outcomes", [])
    active = sorted(
        (lin for lin in state["lineages"].values() if lin.active), key=lambda lin: lin.lineage_id
    )
    admitted = admit_turns(
        [aimed_band(lin.target, ctx.bands) for lin in active], band_counts(outcomes), ctx.bands
    )
    # At least one: a lineage retried after a model failure keeps an aim that may be full.
    active = [lin for lin, ok in zip(active, admitted, strict=True) if ok] or active[:1]
    # Near the teacher budget, start only as many turns as calls remain (each costs at
    # least one); the overshoot is then at most the repairs of those last turns.
    spent = sum(o.teacher_calls for o in outcomes)
    active = active[: max(1, ctx.budget.max_teacher_calls - spent)]
    dropped = sorted(d.model for d in state.get("dropped", {}).values() if d.role == "student")
    used = used_variants(outcomes)
    return [
        Send(
            "run_turn",
            TurnInput(
                run_id=state["run_id"],
                lineage=lin,
                round=state.get("round", 0),
                dropped=dropped,
                used_variants=used,
            ),
        )
        for lin in active
    ]


async def _store_accounting(comps: Components, run_id: str) -> None:
    """The run's token totals and the model calls logged since the last round, to the bank."""
    session = comps.scope(run_id).session
    await in_thread(comps.bank.set_usage, run_id, comps.meter.totals(run_id), session)
    await in_thread(comps.bank.put_calls, run_id, comps.meter.drain_calls(run_id), session)


async def finish_run(
    state: RunState, runtime: Runtime[RunContext], *, parts: Parts
) -> dict[str, Any]:
    """Store the final usage and the report; the run's scope ends here."""
    run_id = state["run_id"]
    ctx, comps = await parts.get(runtime, run_id)
    await _store_accounting(comps, run_id)
    # The report counts what the bank holds (one source of truth); a problem that a replayed
    # turn replaced is retired first, so the report and an export agree.
    await in_thread(comps.bank.retire_orphans, run_id)
    rejections = await in_thread(comps.bank.rejections, run_id)
    report = build_report(
        state,
        ctx,
        await in_thread(comps.bank.usage, run_id),
        [r["codes"] for r in rejections],
        outcomes=await in_thread(comps.bank.turns, run_id),
    )
    await in_thread(comps.bank.finish_run, run_id, "finished", report)
    comps.end_run(run_id)
    return {"report": report}
