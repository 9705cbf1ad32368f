"""The flowing run's ledger and the schedule setting (graphs/flow.py, graphs/context.py)."""

from __future__ import annotations

import asyncio
import threading

import pytest

from stepstones.graphs.bands import default_bands
from stepstones.graphs.components import RunScope
from stepstones.graphs.context import RunContext
from stepstones.graphs.flow import MAX_TRIES_PER_SLOT, FlowLedger, slot_positions, unless_filled
from stepstones.tools.schema import ModelFailure, TurnOutcome


def outcome(lid: str, turn: int, band: str | None = None, **extra: object) -> TurnOutcome:
    return TurnOutcome(
        lineage_id=lid,
        seed_id="s",
        turn=turn,
        round=extra.pop("round", 1),  # type: ignore[arg-type]
        direction="seed",
        teacher_calls=1,
        valid=band is not None,
        band=band,
        pass_rate=0.5 if band else None,
        **extra,  # type: ignore[arg-type]
    )


def ctx(**extra: object) -> RunContext:
    return RunContext(bands=default_bands(2), **extra)  # type: ignore[arg-type]


def test_a_replayed_turn_replaces_its_first_record() -> None:
    book = FlowLedger.rebuilt(ctx(), "procedural", [outcome("L0", 0, "medium")], [])
    assert book.counts["medium"] == 1 and book.teacher_calls == 1 and book.next_round == 2
    landed_open, _ = book.record(outcome("L0", 0, "easy", variant="code/a:1"))  # replayed
    assert landed_open
    assert book.counts["medium"] == 0 and book.counts["easy"] == 1 and book.teacher_calls == 1
    assert book.used_variants() == ["code/a:1"]
    book.record(outcome("L0", 0, "easy", variant="code/b:2"))  # and replayed again
    assert book.used_variants() == ["code/b:2"] and book.teacher_calls == 1


def test_a_turn_replayed_after_a_kill_may_write_its_own_variant_again() -> None:
    # The kill came after the bank took L0's turn 1 and before the slot's checkpoint did: the
    # resumed slot runs that turn again, and its variant is not used up for it (it once ended
    # the lineage with "no easier variant left", and the resumed bank differed).
    banked = [outcome("L0", 0, "easy", variant="code/a:1"), outcome("L0", 1, variant="code/a:0")]
    book = FlowLedger.rebuilt(ctx(), "procedural", banked, [])
    assert book.used_variants() == ["code/a:0", "code/a:1"]
    assert book.used_variants(replaying=("L0", 1)) == ["code/a:1"]
    assert book.used_variants(replaying=("L0", 2)) == ["code/a:0", "code/a:1"]  # a new turn
    book.record(outcome("L1", 0, variant="code/a:0"))  # another lineage's use still counts
    assert book.used_variants(replaying=("L0", 1)) == ["code/a:0", "code/a:1"]


def test_a_turn_in_a_full_band_is_not_in_an_open_one() -> None:
    book = FlowLedger.rebuilt(ctx(), "procedural", [], [])
    assert book.record(outcome("L0", 0, "easy"))[0]
    assert book.record(outcome("L1", 0, "easy"))[0]
    assert not book.record(outcome("L2", 0, "easy"))[0]  # quota 2: the third is surplus
    assert book.counts["easy"] == 3


def test_turns_start_while_teacher_calls_remain() -> None:
    c = ctx(budget={"max_teacher_calls": 3})
    book = FlowLedger.rebuilt(c, "procedural", [outcome("L9", 0, "easy")], [])
    assert book.admit("L0", None, c) == 2  # rounds number the turns as they start
    assert book.admit("L1", None, c) == 3
    assert book.admit("L2", None, c) is None  # 1 spent + 2 in flight: no call left
    book.release("L1")
    assert book.admit("L2", None, c) == 4
    alone = FlowLedger.rebuilt(c, "procedural", [outcome(f"L{i}", 0) for i in range(5)], [])
    assert alone.admit("L0", None, c) is not None  # nothing in flight: a turn always starts


def test_no_more_turns_aimed_at_a_band_than_it_has_open_slots() -> None:
    c = ctx(concurrency=2)  # quota 2 a band; one turn in flight is half the lineages
    book = FlowLedger.rebuilt(c, "procedural", [outcome("L9", 0, "hard")], [])
    assert book.admit("L0", "hard", c) is not None  # hard has 1 slot left: one turn for it
    assert book.admit("L1", "hard", c) is None
    assert book.admit("L1", "easy", c) is not None  # easy has 2
    assert book.admit("L2", None, c) is not None  # a first turn is aimed at no band
    book.release("L0")
    assert book.admit("L1", "hard", c) is not None


def test_while_most_lineages_wait_an_open_slot_gets_a_try_per_expected_miss() -> None:
    c = ctx(concurrency=16)
    book = FlowLedger.rebuilt(c, "procedural", [outcome("L9", 0, "hard")], [])
    assert book.tries_per_slot() == 2  # no aimed turn has ended yet: a hit rate of 1/2
    assert book.admit("L0", "hard", c) is not None
    assert book.admit("L1", "hard", c) is not None  # hard's one open slot, a second try
    assert book.admit("L2", "hard", c) is None
    book.aimed, book.hits = 10, 1  # aimed turns mostly land elsewhere
    assert book.tries_per_slot() == MAX_TRIES_PER_SLOT
    assert book.admit("L2", "hard", c) is not None
    assert book.admit("L3", "hard", c) is not None
    assert book.admit("L4", "hard", c) is None  # at most MAX_TRIES_PER_SLOT a slot
    for i in range(10, 15):  # first turns, aimed at no band
        assert book.admit(f"L{i}", None, c) is not None
    book.release("L0")  # 8 in flight: half the lineages, so one turn per open slot again
    assert book.admit("L0", "hard", c) is None  # the 3 aimed at hard cover its slot
    book.release("L10")  # 7 in flight: the endpoint has room again
    assert book.admit("L0", "hard", c) is not None


def test_a_failing_model_is_dropped_from_the_next_turn_to_start_on() -> None:
    book = FlowLedger.rebuilt(ctx(), "procedural", [], [])
    failure = ModelFailure(role="student", model="sim:x", error="boom", samples=1)
    drops = []
    for turn in range(3):
        book.admit(f"L{turn}", None, ctx())
        drops += book.record(outcome(f"L{turn}", 0, model_failures=[failure]))[1]
    assert [d.model for d in drops] == ["sim:x"] and drops[0].round == book.next_round
    assert book.dropped_students() == ["sim:x"]


def test_slots_share_the_queue_by_position() -> None:
    shares = [slot_positions(7, s, 3) for s in range(3)]
    assert shares == [[0, 3, 6], [1, 4], [2, 5]]


def test_auto_flows_with_models_and_keeps_rounds_for_the_simulation() -> None:
    assert not RunContext().flowing  # procedural teacher, simulated students
    assert RunContext(students=["vllm:m@http://gpu:8000/v1"]).flowing
    assert RunContext(teacher="openai:gpt-x").flowing
    assert not RunContext(teacher="openai:gpt-x", human_review=True).flowing
    assert not RunContext(teacher="openai:gpt-x", schedule="rounds").flowing
    assert RunContext(schedule="flow").flowing
    with pytest.raises(ValueError, match="human_review needs schedule"):
        RunContext(schedule="flow", human_review=True)


def fill_all_but_one(book: FlowLedger) -> None:
    for i, band in enumerate(["hard", "hard", "medium", "medium", "easy"]):
        book.record(outcome(f"L{i}", 0, band))


async def test_a_turn_still_running_when_every_band_fills_is_cancelled() -> None:
    book, scope = FlowLedger.rebuilt(ctx(), "procedural", [], []), RunScope()
    stopped = asyncio.Event()

    async def slow_turn() -> dict[str, object]:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            stopped.set()
            raise
        return {}

    pending = asyncio.ensure_future(unless_filled(slow_turn(), book, scope, "L8"))
    await asyncio.sleep(0)
    fill_all_but_one(book)
    await asyncio.sleep(0.05)
    assert not pending.done()  # a band is still open: the turn may land in it
    book.record(outcome("L9", 0, "easy"))  # the last open slot
    assert await asyncio.wait_for(pending, 5) is None  # surplus: not waited for
    assert stopped.is_set()
    with pytest.raises(asyncio.CancelledError):
        scope.begin_record("L8")  # had it gone on, it could not have written its record


async def test_a_turn_that_ends_before_the_bands_fill_keeps_its_result() -> None:
    book = FlowLedger.rebuilt(ctx(), "procedural", [], [])

    async def quick_turn() -> dict[str, object]:
        return {"outcomes": []}

    assert await unless_filled(quick_turn(), book, RunScope(), "L0") == {"outcomes": []}
    assert not book.filled.is_set()


async def test_a_turn_writing_its_record_when_every_band_fills_is_waited_for() -> None:
    """A thread cannot be stopped: cancelled during its bank write, the turn would bank a
    record whose outcome never reached the slot's checkpoint (BankMismatch at the end)."""
    book, scope = FlowLedger.rebuilt(ctx(), "procedural", [], []), RunScope()
    writing, release = threading.Event(), threading.Event()

    def write() -> None:  # the bank write, in a worker thread as turn_nodes runs it
        writing.set()
        release.wait(5)

    async def banking_turn() -> dict[str, object]:
        scope.begin_record("L8")
        await asyncio.to_thread(write)
        return {"outcomes": ["recorded"]}

    pending = asyncio.ensure_future(unless_filled(banking_turn(), book, scope, "L8"))
    fill_all_but_one(book)
    await asyncio.to_thread(writing.wait, 5)
    book.record(outcome("L9", 0, "easy"))  # every band full while the record is written
    await asyncio.sleep(0.05)
    assert not pending.done() and not scope.stop_turn("L8")
    release.set()
    assert await asyncio.wait_for(pending, 5) == {"outcomes": ["recorded"]}
    scope.turn_ended("L8")
    assert scope.stop_turn("L8")  # the lineage's next turn may be cancelled again
