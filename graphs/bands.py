"""Difficulty bands, the teacher's next move and when to stop, as pure functions.

A problem every student solves (pass rate 1) or none does (pass rate 0) gives a GRPO-style
trainer no signal; those are "too easy" / "too hard" and steer the teacher instead of filling a
band. Everything in between lands in the band whose pass-rate interval holds it.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Literal

from pydantic import Field, model_validator

from stepstones.tools.schema import Record, TurnOutcome

TOO_EASY = "too_easy"
TOO_HARD = "too_hard"
BETWEEN = "between_bands"
"""A pass rate in a gap between bands, where the run's `band_gaps` is "none" (the paper's bins)."""

Move = Literal["harder", "easier", "next_seed"]

StopReason = Literal[
    "quotas_filled",
    "teacher_failed",
    "students_failed",
    "teacher_budget",
    "wall_time",
    "seeds_exhausted",
    "teacher_exhausted",
]
"""Why a run stopped (report.json's `stop_reason`). `teacher_exhausted`: the teacher has no
distinct problem left to write (the procedural teacher's every variant is banked or was given
up on), so further turns could only be duplicates."""

LineageStop = Literal[
    "single_turn",
    "turns_spent",
    "band_full",
    "exhausted",
    "discarded",
    "no_open_band",
]
"""Why a lineage stopped growing (report.json's `lineages.stop_reasons`)."""


class Band(Record):
    """A pass-rate interval (lo, hi] with the number of problems wanted in it."""

    name: str
    lo: float = Field(ge=0.0, le=1.0)
    hi: float = Field(ge=0.0, le=1.0)
    quota: int = Field(ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> Band:
        if not self.lo < self.hi:
            raise ValueError(f"band {self.name!r}: lo ({self.lo}) must be below hi ({self.hi})")
        return self

    @property
    def mid(self) -> float:
        """The centre of the interval, used to find the direction towards a band."""
        return (self.lo + self.hi) / 2


def default_bands(quota: int = 8) -> list[Band]:
    """Three bands from hardest to easiest with equal quotas."""
    return [
        Band(name="hard", lo=0.0, hi=1 / 3, quota=quota),
        Band(name="medium", lo=1 / 3, hi=2 / 3, quota=quota),
        Band(name="easy", lo=2 / 3, hi=1.0, quota=quota),
    ]


def validate_bands(bands: Sequence[Band]) -> None:
    """Raise ValueError unless bands have unique names and do not overlap."""
    names = [b.name for b in bands]
    if len(set(names)) != len(names):
        raise ValueError(f"band names must be unique, got {names}")
    if not bands:
        raise ValueError("at least one band is needed")
    ordered = sorted(bands, key=lambda b: b.lo)
    for a, b in itertools.pairwise(ordered):
        if b.lo < a.hi:
            raise ValueError(f"bands {a.name!r} and {b.name!r} overlap")


def band_of(pass_rate: float, bands: Sequence[Band], gaps: str = "nearest") -> str:
    """The band holding `pass_rate`, or TOO_EASY (1.0) / TOO_HARD (0.0); a rate in a gap
    between bands goes to the nearest band, or with `gaps="none"` to BETWEEN."""
    if pass_rate >= 1.0:
        return TOO_EASY
    if pass_rate <= 0.0:
        return TOO_HARD
    for band in bands:
        if band.lo < pass_rate <= band.hi:
            return band.name
    if gaps == "none":
        return BETWEEN
    return min(bands, key=lambda b: abs(b.mid - pass_rate)).name


def open_bands(counts: Mapping[str, int], bands: Sequence[Band]) -> list[Band]:
    """Bands whose quota is not yet filled."""
    return [b for b in bands if counts.get(b.name, 0) < b.quota]


def open_slots(counts: Mapping[str, int], bands: Sequence[Band]) -> dict[str, int]:
    """Problems each band still wants (0 for a full one)."""
    return {b.name: max(0, b.quota - counts.get(b.name, 0)) for b in bands}


def admit_turns(
    aims: Sequence[str | None], counts: Mapping[str, int], bands: Sequence[Band]
) -> list[bool]:
    """Which of a round's lineages (in order, each with the band its next variant is aimed
    at, None when it is not aimed at one) get a turn this round.

    Turns in flight count before more start: no more turns in all than the bands have open
    slots, and no more aimed at a band than it has slots left. A turn can still land in a
    band it was not aimed at; what lands in a full band is surplus (tools/quotas.py).
    """
    left = open_slots(counts, bands)
    total = sum(left.values())
    admitted = []
    for aim in aims:
        band = aim if aim in left else None
        ok = total > 0 and (band is None or left[band] > 0)
        if ok:
            total -= 1
            if band is not None:
                left[band] -= 1
        admitted.append(ok)
    return admitted


def aimed_band(target: tuple[float, float] | None, bands: Sequence[Band]) -> str | None:
    """The band whose pass-rate range is `target` (a lineage's next aim), or None."""
    if target is None:
        return None
    return next((b.name for b in bands if (b.lo, b.hi) == tuple(target)), None)


def band_counts(outcomes: Iterable[TurnOutcome]) -> Counter[str]:
    """Valid problems per band (too easy / too hard ones are not in any band)."""
    return Counter(
        o.band for o in outcomes if o.valid and o.band not in (None, TOO_EASY, TOO_HARD, BETWEEN)
    )


def move_target(
    pass_rate: float | None, counts: Mapping[str, int], bands: Sequence[Band]
) -> Band | None:
    """The open band a lineage's next variant should land in: the nearest open band other
    than the one it is in (None when no band is open or the lineage has no pass rate yet).
    The teacher's refine prompt names its pass-rate range, as the paper's prompt names 0.35-0.65.
    """
    if pass_rate is None:
        return None
    candidates = open_bands(counts, bands)
    if not candidates:
        return None
    here = band_of(pass_rate, bands)
    others = [b for b in candidates if b.name != here] or candidates
    return min(others, key=lambda b: abs(b.mid - pass_rate))


def next_move(pass_rate: float | None, counts: Mapping[str, int], bands: Sequence[Band]) -> Move:
    """Where the lineage goes next, given its last problem's pass rate and the band counts.

    Too easy -> harder; too hard -> easier; inside a band -> towards the nearest band that is
    still open (by pass rate: a lower-pass-rate band means harder); nothing open -> next seed.
    A lineage whose last turn produced no valid problem (pass_rate None) starts a new seed.
    """
    if pass_rate is None:
        return "next_seed"
    if pass_rate >= 1.0:
        return "harder"
    if pass_rate <= 0.0:
        return "easier"
    target = move_target(pass_rate, counts, bands)
    if target is None:
        return "next_seed"
    return "harder" if target.mid < pass_rate else "easier"


def steer(
    pass_rate: float | None,
    counts: Mapping[str, int],
    bands: Sequence[Band],
    rule: str = "bands",
    target: tuple[float, float] | None = None,
) -> Move:
    """The next move under the run's direction rule. "paper" (section 3.3): harder when the
    pass rate is above the target range (0.65), easier when it is 0; otherwise, and under
    "bands", towards the nearest open band (`next_move`)."""
    if rule == "paper" and pass_rate is not None and open_bands(counts, bands):
        hi = target[1] if target is not None else 0.65
        if pass_rate > hi:
            return "harder"
        if pass_rate <= 0.0:
            return "easier"
    return next_move(pass_rate, counts, bands)


def lineage_stop(
    last: TurnOutcome,
    move: Move,
    *,
    turns: int,
    stale: int,
    multi_turn: bool,
    max_turns: int,
) -> LineageStop | Literal["retry"] | None:
    """Whether a lineage stops after its last turn, and why; "retry" repeats the same move.

    A lineage stops when the run is single-turn, its turns are spent, it landed in a full
    band twice in a row (`stale`: it has nothing left to give), its family has no variant
    left in that direction, or there is no open band for it. A turn nobody could measure
    (a model failed, not the problem) is tried again with the same move.
    """
    if not multi_turn:
        return "single_turn"
    if turns >= max_turns:
        return "turns_spent"
    if stale >= 2:
        return "band_full"
    if not last.valid and last.model_failures and not last.rejections:
        return "retry"
    if move == "next_seed" and any(r.code == "exhausted" for r in last.rejections):
        return "exhausted"
    if move == "next_seed":
        return "discarded" if not last.valid else "no_open_band"
    return None


def run_stop(
    counts: Mapping[str, int],
    bands: Sequence[Band],
    *,
    teacher_dropped: bool,
    students_left: int,
    teacher_calls: int,
    max_teacher_calls: int,
    elapsed_s: float,
    max_wall_s: float | None,
) -> StopReason | None:
    """Whether the run stops before its next round, and why (the first reason that holds).

    `seeds_exhausted` is not decided here: it depends on whether a new lineage could start.
    """
    if not open_bands(counts, bands):
        return "quotas_filled"
    if teacher_dropped:
        return "teacher_failed"
    if students_left == 0:
        return "students_failed"
    if teacher_calls >= max_teacher_calls:
        return "teacher_budget"
    if max_wall_s is not None and elapsed_s > max_wall_s:
        return "wall_time"
    return None
