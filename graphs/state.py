"""Graph state: TypedDicts holding pydantic records, with reducers for fan-in.

The run graph's state stays compact (one `LineageState` per lineage and one `TurnOutcome` per
teacher turn) because every superstep is checkpointed; problems, attempts and summaries live in
the bank. Records sit in state as pydantic models (not dumps); `SERDE_ALLOWLIST` names them
for checkpoint deserialisation in one place.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import Annotated, Any, Literal, NotRequired

from langgraph.channels import DeltaChannel
from pydantic import Field
from typing_extensions import TypedDict

from stepstones.tools.schema import (
    Attempt,
    Critique,
    Direction,
    ModelDrop,
    ModelFailure,
    PerformanceSummary,
    Problem,
    Record,
    Seed,
    TurnOutcome,
)


class LineageState(Record):
    """One seed's chain of stepping stones as the scheduler sees it between turns."""

    lineage_id: str
    index: int = Field(0, description="order in which the run started this lineage")
    seed: Seed
    turns: int = Field(0, description="teacher turns taken")
    active: bool = True
    direction: Direction = "seed"
    parent: Problem | None = Field(None, description="last valid problem, the next turn's base")
    summary: PerformanceSummary | None = None
    problem_ids: list[str] = Field(default_factory=list)
    stale: int = Field(0, description="turns in a row that filled no open band")
    stop_reason: str | None = None
    target: tuple[float, float] | None = Field(
        None, description="pass-rate range of the open band the next variant should land in"
    )
    environment: str = Field("code", description="the environment of every stone in the chain")


def merge_lineages(
    current: dict[str, LineageState], writes: Sequence[dict[str, LineageState]]
) -> dict[str, LineageState]:
    """Reducer: later writes replace a lineage's entry; other lineages are kept."""
    merged = dict(current)
    for update in writes:
        merged.update(update)
    return merged


def seed_queue(current: list[Seed], writes: Sequence[list[Seed] | int]) -> list[Seed]:
    """Reducer: a list of seeds joins the queue's end; a number takes that many off its front."""
    queue = list(current)
    for write in writes:
        if isinstance(write, int):
            del queue[:write]
        else:
            queue.extend(write)
    return queue


def append_outcomes(
    current: list[TurnOutcome], writes: Sequence[list[TurnOutcome]]
) -> list[TurnOutcome]:
    """Reducer: every turn's outcomes, in the order the turns were merged."""
    return [*current, *(o for batch in writes for o in batch)]


class RunInput(TypedDict, total=False):
    """What a caller (or Studio's input form) provides; everything else comes from the context."""

    run_id: str
    seeds: list[Seed]


class RunState(TypedDict, total=False):
    """The run graph's state."""

    run_id: str
    seeds: list[Seed]
    # The seed queue is long, and the lineages and outcomes grow with the run; all three change
    # every round. As delta channels a checkpoint stores only the round's writes (a seed count
    # taken, new lineage states, new outcomes; a full snapshot every 100 updates), not the
    # whole values again: a run's checkpoints grow linearly with its length, not
    # quadratically. DeltaChannel is beta in LangGraph 1.2; every saver we use supports it.
    queue: Annotated[list[Seed], DeltaChannel(seed_queue)]
    lineages: Annotated[dict[str, LineageState], DeltaChannel(merge_lineages)]
    outcomes: Annotated[list[TurnOutcome], DeltaChannel(append_outcomes)]
    counted: int
    round: int
    stop_reason: str | None
    model_health: dict[str, int]
    """Consecutive failed turns per `role:model` (graphs/health.py)."""
    dropped: dict[str, ModelDrop]
    """Models left out of the rest of the run, by `role:model`."""
    report: dict[str, object]


class RunOutput(TypedDict, total=False):
    """What a run returns."""

    run_id: str
    stop_reason: str | None
    report: dict[str, object]


class TurnInput(TypedDict):
    """What the scheduler sends to one lineage's turn."""

    run_id: str
    lineage: LineageState
    round: int
    dropped: list[str]
    """Students left out of the run: the turn does not ask them."""
    used_variants: NotRequired[list[str]]
    """Variants banked or given up on in earlier rounds (TeacherRequest.used)."""


class TurnState(TurnInput, total=False):
    """One teacher turn: draft, critique, repairs, student attempts, summary and band."""

    problem: Problem | None
    rejected_reply: str | None
    """The teacher's unparseable reply, quoted back to it in the repair prompt."""
    critique: Critique | None
    reviewed: bool
    exhausted: bool
    repairs: int
    teacher_calls: int
    attempts: Annotated[list[Attempt], operator.add]
    model_failures: list[ModelFailure]
    answered: list[str]
    summary: PerformanceSummary | None
    outcomes: list[TurnOutcome]
    lineages: dict[str, LineageState]


class TurnOutput(TypedDict, total=False):
    """What one turn hands back to the run graph (merged by the run state's reducers)."""

    outcomes: list[TurnOutcome]
    lineages: dict[str, LineageState]


class SlotInput(TypedDict):
    """What a flowing run sends to one slot: its share of the seed queue (graphs/flow.py)."""

    run_id: str
    slot: int
    seeds: list[Seed]
    positions: list[int]
    """Each seed's place in the run's queue: the lineage's index (its id and environment)."""


class SlotState(SlotInput, total=False):
    """One slot of a flowing run: the lineage it is on, and everything its turns produced."""

    taken: int
    """Seeds of `seeds` started so far."""
    lineage: LineageState | None
    last: TurnOutcome | None
    """The lineage's last turn (None before its first)."""
    round: int | None
    """The admitted turn's round (FlowLedger.admit)."""
    # A slot runs for the whole run and is checkpointed after each step: as delta channels
    # its checkpoints store each turn's writes, not the slot's whole history again.
    outcomes: Annotated[list[TurnOutcome], DeltaChannel(append_outcomes)]
    lineages: Annotated[dict[str, LineageState], DeltaChannel(merge_lineages)]


class SlotOutput(TypedDict, total=False):
    """What a slot hands back to the run graph when it ends."""

    outcomes: list[TurnOutcome]
    lineages: dict[str, LineageState]


class ReviewDecision(Record):
    """What a human reviewer answers to the `review_problem` interrupt.

    `approve` sends the problem to the students; `edit` replaces fields of the problem (it goes
    back through the critic); `reject` counts as a rejection the teacher must repair.
    """

    action: Literal["approve", "edit", "reject"]
    problem: dict[str, Any] = Field(default_factory=dict, description="fields to change (edit)")
    reason: str = Field("rejected by the reviewer", description="told to the teacher (reject)")


SERDE_ALLOWLIST: list[tuple[str, str]] = [
    ("stepstones.tools.schema", name)
    for name in (
        "Attempt",
        "Critique",
        "ExecLimits",
        "Lineage",
        "ModelDrop",
        "ModelFailure",
        "PerformanceSummary",
        "Problem",
        "Rejection",
        "Seed",
        "StudentStats",
        "TestCase",
        "TestOutcome",
        "TurnOutcome",
        "Verdict",
    )
] + [("stepstones.graphs.state", "LineageState"), ("stepstones.graphs.state", "ReviewDecision")]
