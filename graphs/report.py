"""The run report (`report.json`): bands against quotas, yield per turn, rejections, lineages.

Computed from the run's turn records as the bank holds them (the graph's `finish_run` passes
them), so the report counts exactly what the bank has, whether the run was resumed or not.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any, Literal

from stepstones.graphs.bands import BETWEEN, TOO_EASY, TOO_HARD
from stepstones.graphs.context import RunContext
from stepstones.graphs.state import RunState
from stepstones.tools.quotas import split_quota
from stepstones.tools.schema import TurnOutcome, Usage


def _chains(outcomes: list[TurnOutcome]) -> dict[str, int]:
    """Valid stepping stones per lineage."""
    per: Counter[str] = Counter()
    for o in outcomes:
        if o.valid:
            per[o.lineage_id] += 1
    return dict(per)


def _model_failures(outcomes: list[TurnOutcome]) -> dict[str, dict[str, int]]:
    """Per model: turns in which it failed to answer and samples lost (never wrong answers)."""
    per: dict[str, dict[str, int]] = {}
    for o in outcomes:
        for f in o.model_failures:
            row = per.setdefault(f"{f.role}:{f.model}", {"turns": 0, "samples": 0})
            row["turns"] += 1
            row["samples"] += f.samples
    return per


TurnEnding = Literal["valid", "discarded", "exhausted", "unmeasured"]
TURN_ENDINGS: tuple[TurnEnding, ...] = ("valid", "discarded", "exhausted", "unmeasured")


def turn_ending(o: TurnOutcome) -> TurnEnding:
    """How a turn ended: a valid problem, `discarded` (every draft rejected: those drafts are
    in `rejections_by_reason`), `exhausted` (the teacher had no variant left: no draft, no
    call, no rejection) or `unmeasured` (a model failed: nothing judged, no rejection)."""
    if o.valid:
        return "valid"
    if any(r.code != "exhausted" for r in o.rejections):
        return "discarded"
    return "exhausted" if o.rejections else "unmeasured"


def turn_endings(outcomes: list[TurnOutcome]) -> dict[str, int]:
    """Turns per ending (`turn_ending`), every ending named."""
    ends = Counter(turn_ending(o) for o in outcomes)
    return {k: ends[k] for k in TURN_ENDINGS}


def build_report(
    state: RunState,
    ctx: RunContext,
    usage: list[Usage],
    rejection_codes: list[list[str]] | None = None,
    outcomes: list[TurnOutcome] | None = None,
) -> dict[str, Any]:
    """A JSON-ready summary of the run.

    `outcomes` are the turn records to count (the bank's; default: the state's).
    `rejection_codes` (one list per recorded rejection, from the bank) counts every rejected
    draft, repairs included; without it only the final reasons of discarded turns are known.
    """
    outcomes = state.get("outcomes", []) if outcomes is None else outcomes
    valid = [o for o in outcomes if o.valid]
    in_band = Counter(o.band for o in valid)
    held, surplus = split_quota(outcomes, {b.name: b.quota for b in ctx.bands})
    over = Counter(o.band for o in surplus)
    bands = {
        b.name: {
            "count": held[b.name],
            "surplus": over[b.name],
            "quota": b.quota,
            "filled": held[b.name] >= b.quota,
            "pass_rate": [b.lo, b.hi],
        }
        for b in ctx.bands
    }
    per_turn: dict[int, dict[str, int]] = defaultdict(
        lambda: {"turns": 0, "valid": 0, "banded": 0, "teacher_calls": 0}
    )
    for o in outcomes:
        row = per_turn[o.turn]
        row["turns"] += 1
        row["valid"] += int(o.valid)
        row["banded"] += int(o.valid and o.band not in (TOO_EASY, TOO_HARD))
        row["teacher_calls"] += o.teacher_calls
    rejections: Counter[str] = Counter()
    if rejection_codes is not None:
        for codes in rejection_codes:
            rejections.update(codes)
    else:
        for o in outcomes:
            rejections.update(r.code for r in o.rejections)
    chains = _chains(outcomes)
    directions = Counter(o.direction for o in valid)
    calls = sum(o.teacher_calls for o in outcomes)
    lineages = state.get("lineages", {})
    return {
        "run_id": state.get("run_id"),
        "stop_reason": state.get("stop_reason"),
        "bands": bands,
        "all_bands_filled": all(b["filled"] for b in bands.values()),
        "outside_bands": {
            TOO_EASY: in_band.get(TOO_EASY, 0),
            TOO_HARD: in_band.get(TOO_HARD, 0),
            BETWEEN: in_band.get(BETWEEN, 0),
        },
        # `surplus`: valid problems that landed in a band already full (tools/quotas.py).
        "problems": {"turns": len(outcomes), **turn_endings(outcomes), "surplus": len(surplus)},
        "teacher_calls": calls,
        # What the calls produced: every problem that landed in a band, surplus included.
        "yield_per_call": round(sum(in_band.get(b.name, 0) for b in ctx.bands) / calls, 4)
        if calls
        else 0.0,
        "yield_per_turn": {str(t): per_turn[t] for t in sorted(per_turn)},
        "rejections_by_reason": dict(rejections.most_common()),
        "lineages": {
            "count": len(lineages),
            "stop_reasons": dict(Counter(lin.stop_reason or "active" for lin in lineages.values())),
            "max_depth": max(chains.values(), default=0),
            "chains_of_3_or_more": sum(n >= 3 for n in chains.values()),
            "directions": dict(directions),
        },
        "usage": [u.model_dump() for u in usage],
        "model_failures": _model_failures(outcomes),
        "dropped_models": [d.model_dump(mode="json") for d in state.get("dropped", {}).values()],
        "config": {
            "teacher": ctx.teacher,
            "students": ctx.students,
            "samples": ctx.samples,
            "seed": ctx.seed,
            "multi_turn": ctx.multi_turn,
            "target_student": ctx.target_student,
            "preset": ctx.preset,
        },
        "difficulty_from": ctx.target_student or "every student, pooled",
        "warnings": _warnings(ctx),
    }


def _warnings(ctx: RunContext) -> list[str]:
    sims = ctx.simulated_on_llm_problems()
    if not sims:
        return []
    return [
        f"simulated students ({', '.join(sims)}) pool into the bands of problems an LLM "
        "teacher wrote; they have no difficulty to read on such problems (a fixed 0.5), so "
        "their pass rates measure nothing: set target_student to an LLM student"
    ]
