"""Flowing lineages (`schedule = "flow"`): a lineage's next turn starts when its last one ends.

Under "rounds" every lineage in flight takes one turn per superstep, and a round waits for its
slowest turn: with real models the endpoint idles while the last lineages finish (issue 19
measured 47% of a vLLM-like endpoint's capacity). Under "flow" the run graph sends one *slot* per
unit of `concurrency`, and each slot is a subgraph that loops on its own: `next_lineage` starts
the slot's next seed, `steer_lineage` (the band router, for one lineage) picks the lineage's next
move with the band counts as they stand and waits for room in the band it aims at (and, near
the teacher budget, for a call to be left), `run_turn` runs the turn subgraph. A slot graph is
checkpointed after each of its supersteps, before the next starts ("sync" durability, set by the
runner), so a crash redoes only the turns that were in flight, as under rounds. Once every band
holds its quota, the turns still in flight are cancelled (`unless_filled`): they could only be
surplus, and the run no longer waits for them; a turn that has begun writing its turn record is
waited for instead (`RunScope.begin_record`).

What the lineages share lives in the run's `FlowLedger` (in its RunScope): band counts, turns in
flight and the bands they aim at, teacher calls, model health, the variants used. It is rebuilt
from the bank on first use, so a resumed run steers by what the bank holds.

The decisions depend on which turn ends first, so two flowing runs with the same seed can
differ: in which lineage fills a band's last slot (the rest is surplus), which of two
near-duplicates is banked, which turns are still in flight (and cancelled) when the last slot
fills, and so in which lineages stop when. Each turn's own inputs (seed,
lineage index, turn, direction, target) still decide what a simulated teacher writes. With
`concurrency = 1` a flowing run makes the same bank as a rounds run (a test holds this).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from langgraph.graph import END
from langgraph.runtime import Runtime

from stepstones.agents.teacher import Catalogue
from stepstones.graphs.bands import (
    StopReason,
    aimed_band,
    lineage_stop,
    move_target,
    open_slots,
    run_stop,
    steer,
)
from stepstones.graphs.components import Components, Parts, RunScope
from stepstones.graphs.context import RunContext
from stepstones.graphs.health import health_key, newly_dropped, track
from stepstones.graphs.state import LineageState, SlotState, TurnInput
from stepstones.tools.quotas import counting_order
from stepstones.tools.schema import ModelDrop, TurnOutcome

in_thread = asyncio.to_thread

WAKE_S = 0.5
"""A waiting lineage looks again at least this often (the run's wall-time limit moves on)."""
MAX_TRIES_PER_SLOT = 4
"""At most this many turns aimed at one open slot at once (`FlowLedger.tries_per_slot`)."""


def next_step(
    lin: LineageState, last: TurnOutcome, counts: Mapping[str, int], ctx: RunContext
) -> LineageState:
    """The lineage after its last turn: steered harder, easier or towards an open band, or
    ended (`bands.lineage_stop`). Both schedules route a lineage by this."""
    rate = last.pass_rate if last.valid else None
    move = steer(rate, counts, ctx.bands, ctx.direction_rule, ctx.target_range)
    reason = lineage_stop(
        last,
        move,
        turns=lin.turns,
        stale=lin.stale,
        multi_turn=ctx.multi_turn,
        max_turns=ctx.budget.max_turns_per_seed,
    )
    if reason == "retry":
        return lin
    if reason:
        return lin.model_copy(update={"active": False, "stop_reason": reason})
    band = move_target(rate, counts, ctx.bands)
    target = ctx.target_range or ((band.lo, band.hi) if band else None)
    return lin.model_copy(update={"direction": move, "target": target})


def run_stop_reason(
    ctx: RunContext,
    comps: Components,
    counts: Mapping[str, int],
    dropped: Mapping[str, ModelDrop],
    teacher_calls: int,
    used_variants: Callable[[], list[str]],
    started: float,
) -> StopReason | None:
    """Whether the run stops, and why (the first reason that holds): `bands.run_stop`, then a
    catalogue teacher with no variant left. Both schedules stop by this; `used_variants` is
    asked only for a catalogue teacher."""
    stop = run_stop(
        counts,
        ctx.bands,
        teacher_dropped=health_key("teacher", comps.teacher.name) in dropped,
        # Without its target student a run cannot measure another problem.
        students_left=0
        if ctx.target_student and health_key("student", ctx.target_student) in dropped
        else sum(health_key("student", s) not in dropped for s in comps.students),
        teacher_calls=teacher_calls,
        max_teacher_calls=ctx.budget.max_teacher_calls,
        elapsed_s=time.monotonic() - started,
        max_wall_s=ctx.budget.max_wall_s,
    )
    if (
        stop is None
        and isinstance(comps.teacher, Catalogue)
        and not comps.teacher.unused(used_variants(), ctx.environments)
    ):
        stop = "teacher_exhausted"
    return stop


@dataclass
class FlowLedger:
    """What a flowing run's lineages share in this process (one per run, in its RunScope)."""

    quotas: dict[str, int]
    teacher: str
    counts: Counter[str] = field(default_factory=Counter)
    """Valid problems per band, surplus included (as schedule_turns counts them)."""
    outcomes: dict[tuple[str, int], TurnOutcome] = field(default_factory=dict)
    """Every turn's outcome by (lineage, turn): a replayed turn replaces its first record."""
    health: dict[str, int] = field(default_factory=dict)
    dropped: dict[str, ModelDrop] = field(default_factory=dict)
    held: dict[str, str | None] = field(default_factory=dict)
    """Lineages with a turn in flight, and the band each turn is aimed at (None: none)."""
    next_round: int = 1
    """The next turn's `round`: a run-wide count of turns started, where rounds count rounds."""
    teacher_calls: int = 0
    """Over `outcomes`, kept as they change: read before every turn, so never summed again."""
    variants: Counter[str] = field(default_factory=Counter)
    """Turns per variant over `outcomes` (TurnOutcome.variant), kept the same way."""
    _changed: asyncio.Event = field(default_factory=asyncio.Event)
    filled: asyncio.Event = field(default_factory=asyncio.Event)
    """Set once every band holds its quota: a turn still in flight then can only be surplus."""
    aimed: int = 0
    """Turns aimed at a band that ended in this process (a resumed run counts afresh)."""
    hits: int = 0
    """Of those, the turns that landed in the band they were aimed at."""

    @classmethod
    def rebuilt(
        cls, ctx: RunContext, teacher: str, outcomes: list[TurnOutcome], drops: list[ModelDrop]
    ) -> FlowLedger:
        """The ledger of a run whose bank holds `outcomes`, counted in counting order."""
        ledger = cls({b.name: b.quota for b in ctx.bands}, teacher)
        ledger.dropped = {health_key(d.role, d.model): d for d in drops}
        for o in sorted(outcomes, key=counting_order):
            ledger.record(o)
        ledger.next_round = max((o.round for o in outcomes), default=0) + 1
        return ledger

    def used_variants(self, replaying: tuple[str, int] | None = None) -> list[str]:
        """Variants banked or given up on (TurnOutcome.variant), sorted, as rounds pass them.

        `replaying`: the (lineage, turn) about to run. After a kill the bank can hold that
        turn's record while the slot's checkpoint does not: its own variant is not used up
        for it (else the teacher says "no variant left" and the resumed lineage ends early),
        as a round's replay does not see the outcomes of the round it replays.
        """
        own = self.outcomes.get(replaying) if replaying is not None else None
        skip = own.variant if own is not None else None
        return sorted(v for v, n in self.variants.items() if n - (v == skip) > 0)

    def dropped_students(self) -> list[str]:
        return sorted(d.model for d in self.dropped.values() if d.role == "student")

    def record(self, outcome: TurnOutcome) -> tuple[bool, list[ModelDrop]]:
        """Count a finished turn. Returns whether it landed in a band that was still open (else
        the lineage grows stale), and the models it took to their failure limit."""
        old = self.outcomes.pop((outcome.lineage_id, outcome.turn), None)
        for o, sign in ((old, -1), (outcome, 1)):
            if o is None:
                continue
            self.teacher_calls += sign * o.teacher_calls
            if o.variant is not None:
                self.variants[o.variant] += sign
        if old is not None and old.valid and old.band in self.quotas:
            self.counts[old.band] -= 1
        self.outcomes[(outcome.lineage_id, outcome.turn)] = outcome
        self.health = track(self.health, outcome, self.teacher)
        # From the next turn to start on, as rounds drop a model from the next round on.
        drops = newly_dropped(self.health, self.dropped, outcome, self.next_round)
        for drop in drops:
            self.dropped[health_key(drop.role, drop.model)] = drop
        landed_open = False
        if outcome.valid and outcome.band in self.quotas:
            landed_open = self.counts[outcome.band] < self.quotas[outcome.band]
            self.counts[outcome.band] += 1
        if all(self.counts[b] >= q for b, q in self.quotas.items()):
            self.filled.set()
        return landed_open, drops

    def stop_reason(self, ctx: RunContext, comps: Components, started: float) -> StopReason | None:
        """Whether the run stops, and why (`run_stop_reason`, as schedule_turns asks it)."""
        return run_stop_reason(
            ctx, comps, self.counts, self.dropped, self.teacher_calls, self.used_variants, started
        )

    def admit(self, lineage_id: str, aim: str | None, ctx: RunContext) -> int | None:
        """The round number of the lineage's next turn, or None while it must wait.

        No more turns in flight aimed at a band (`aim`) than it has open slots, times
        `tries_per_slot` while fewer than half the lineages have a turn in flight, and, near
        the teacher budget, no more turns than calls remain, as a round rules its turns
        (`admit_turns`). Unlike a round, turns not aimed at a band (a lineage's first) are not
        held back by the open slots of all bands together: that left the endpoint idle for
        the last third of a run. Aimed turns beyond a band's slots while the endpoint was full
        made surplus that queued before the turns still needed; one try per slot at the end,
        when one band is left open and most lineages wait for it, left the endpoint idle
        while a slot took several tries (docs/benchmarks.md). With nothing in flight a turn
        always starts, as a round always sends one.
        """
        if self.held:
            if self.teacher_calls + len(self.held) >= ctx.budget.max_teacher_calls:
                return None
            left = open_slots(self.counts, ctx.bands)
            if aim in left:
                allowed = left[aim]
                if len(self.held) < ctx.lineages_in_flight / 2:
                    allowed *= self.tries_per_slot()
                if allowed <= sum(a == aim for a in self.held.values()):
                    return None
        self.held[lineage_id] = aim
        self.next_round += 1
        return self.next_round - 1

    def tries_per_slot(self) -> int:
        """Turns to aim at an open slot together while the endpoint has room: one per expected
        try, 1 / the share of aimed turns that landed where they were aimed (1/2 before any),
        at most MAX_TRIES_PER_SLOT. The tries beyond the one that fills the slot are cancelled
        with the rest of the run's surplus once every band is full (`unless_filled`)."""
        rate = (self.hits + 1) / (self.aimed + 2)
        return min(MAX_TRIES_PER_SLOT, math.ceil(1 / rate))

    def hold(self, lineage_id: str, aim: str | None) -> None:
        """Count a turn as in flight (again, for a turn replayed after a resume)."""
        self.held.setdefault(lineage_id, aim)

    def release(self, lineage_id: str) -> None:
        """A turn ended: wake the lineages waiting for room."""
        self.held.pop(lineage_id, None)
        self._changed.set()
        self._changed = asyncio.Event()

    async def changed(self) -> None:
        """Wait until a turn ends, or WAKE_S."""
        event = self._changed
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), WAKE_S)


async def ledger(comps: Components, ctx: RunContext, run_id: str) -> FlowLedger:
    """The run's ledger, rebuilt from the bank on first use here (resume-safe)."""
    scope = comps.scope(run_id)
    if scope.ledger is None:
        outcomes = await in_thread(comps.bank.turns, run_id)
        drops = await in_thread(comps.bank.model_drops, run_id)
        built = FlowLedger.rebuilt(ctx, comps.teacher.name, outcomes, drops)
        scope.ledger = scope.ledger or built
    return scope.ledger


def slot_positions(queue_length: int, slot: int, slots: int) -> list[int]:
    """The queue positions slot `slot` of `slots` takes its seeds from, in order: fixed by the
    queue, so a lineage's id and environment do not depend on which slot finished first."""
    return list(range(slot, queue_length, slots))


async def next_lineage(
    state: SlotState, runtime: Runtime[RunContext], *, parts: Parts
) -> dict[str, Any]:
    """The slot's next lineage from its share of the seed queue, or none (the slot ends)."""
    ctx, comps = await parts.get(runtime, state["run_id"])
    book = await ledger(comps, ctx, state["run_id"])
    taken = state.get("taken", 0)
    if taken >= len(state["seeds"]) or book.stop_reason(
        ctx, comps, comps.scope(state["run_id"]).started
    ):
        return {"lineage": None}
    index, seed = state["positions"][taken], state["seeds"][taken]
    lin = LineageState(
        lineage_id=f"L{index:04d}-{seed.id[:6]}",
        index=index,
        seed=seed,
        environment=ctx.environment_for(index),
    )
    return {"lineage": lin, "last": None, "taken": taken + 1, "lineages": {lin.lineage_id: lin}}


async def steer_lineage(
    state: SlotState, runtime: Runtime[RunContext], *, parts: Parts
) -> dict[str, Any]:
    """Route the lineage after its last turn, then wait for room for its next one.

    The band router for one lineage: the move is taken again after every wait, since the
    bands it aimed at may have filled meanwhile. The run's stop ends the slot.
    """
    ctx, comps = await parts.get(runtime, state["run_id"])
    book = await ledger(comps, ctx, state["run_id"])
    started = comps.scope(state["run_id"]).started
    lin, last = state.get("lineage"), state.get("last")
    if lin is None:
        raise RuntimeError("steer_lineage reached without a lineage")
    while True:
        if book.stop_reason(ctx, comps, started):
            return {"lineage": None}
        if last is not None:
            lin = next_step(lin, last, book.counts, ctx)
        if not lin.active:
            return {"lineage": lin, "lineages": {lin.lineage_id: lin}, "round": None}
        round_ = book.admit(lin.lineage_id, aimed_band(lin.target, ctx.bands), ctx)
        if round_ is not None:
            return {"lineage": lin, "lineages": {lin.lineage_id: lin}, "round": round_}
        await book.changed()


def route_after_steer(state: SlotState) -> str:
    """The lineage's turn; the slot's next lineage when it ended; the end when the run did."""
    lin = state.get("lineage")
    if lin is None:
        return END
    return "run_turn" if lin.active else "next_lineage"


def route_after_next(state: SlotState) -> str:
    return "steer_lineage" if state.get("lineage") is not None else END


TurnRunner = Callable[[TurnInput, RunContext], Awaitable[dict[str, Any]]]


async def unless_filled(
    work: Awaitable[dict[str, Any]], book: FlowLedger, scope: RunScope, lineage_id: str
) -> dict[str, Any] | None:
    """The turn's result, or None when every band filled while it ran (it is cancelled then).

    Such a turn can only be surplus, and a run ends only when its last turn does: left to
    finish, the turns in flight when the last slot filled kept the run (and its model calls)
    going for up to a turn longer. A turn that has begun writing its turn record is waited
    for instead, so that its outcome reaches the slot's checkpoint (`RunScope.begin_record`);
    what a cancelled turn banked before (rejected drafts) stays banked.
    """
    task = asyncio.ensure_future(work)
    filled = asyncio.ensure_future(book.filled.wait())
    try:
        await asyncio.wait({task, filled}, return_when=asyncio.FIRST_COMPLETED)
        if not task.done() and scope.stop_turn(lineage_id):
            task.cancel()
        await asyncio.wait({task})
    except BaseException:  # the run itself was cancelled meanwhile: so is its turn
        task.cancel()
        raise
    finally:
        filled.cancel()
    # A turn that ran on to its end regardless (nothing of it was cancelled) keeps its result.
    return None if task.cancelled() else task.result()


async def run_turn(
    state: SlotState, runtime: Runtime[RunContext], *, parts: Parts, turn: TurnRunner
) -> dict[str, Any]:
    """One turn of the slot's lineage (the turn subgraph, through `turn`), counted in the
    ledger as soon as it ends; models it took to their failure limit are banked as drops."""
    run_id = state["run_id"]
    ctx, comps = await parts.get(runtime, run_id)
    book = await ledger(comps, ctx, run_id)
    lin, round_ = state.get("lineage"), state.get("round")
    if lin is None or round_ is None:
        raise RuntimeError("run_turn reached without an admitted lineage")
    aim = aimed_band(lin.target, ctx.bands)
    book.hold(lin.lineage_id, aim)
    scope = comps.scope(run_id)
    if (lin.lineage_id, lin.turns) in book.outcomes:
        # A replay (after a kill or a stop) of a turn whose record the bank already holds: it
        # must run to its end and reach the checkpoint, even with every band full (its record
        # may be what filled them); cancelled, the bank would keep a turn the checkpoints lack.
        scope.begin_record(lin.lineage_id)
    try:
        result = await unless_filled(
            turn(
                TurnInput(
                    run_id=run_id,
                    lineage=lin,
                    round=round_,
                    dropped=book.dropped_students(),
                    used_variants=book.used_variants(replaying=(lin.lineage_id, lin.turns)),
                ),
                ctx,
            ),
            book,
            scope,
            lin.lineage_id,
        )
        if result is None:  # every band filled meanwhile: the slot ends at its next steer
            return {"last": None}
        grown = result["lineages"][lin.lineage_id]
        drops: list[ModelDrop] = []
        for outcome in result["outcomes"]:
            if aim is not None:
                book.aimed += 1
                book.hits += outcome.valid and outcome.band == aim
            landed_open, new = book.record(outcome)
            drops += new
            if outcome.valid and outcome.band in book.quotas:
                grown = grown.model_copy(update={"stale": 0 if landed_open else grown.stale + 1})
    finally:
        scope.turn_ended(lin.lineage_id)
        book.release(lin.lineage_id)
    for drop in drops:
        await in_thread(comps.bank.put_model_drop, run_id, drop)
    return {
        "outcomes": result["outcomes"],
        "lineages": {lin.lineage_id: grown},
        "lineage": grown,
        "last": result["outcomes"][-1],
    }
