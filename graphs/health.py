"""Which models a run leaves out: a model failing turn after turn is dropped, loudly.

A failed model call is infrastructure, never a wrong answer: its samples are no attempts and
count in no pass rate. One failed turn can be a blip (the sampling layer has already retried
with backoff); `MAX_FAILED_TURNS` in a row means the endpoint or engine is gone, and giving it
more turns would only spend the budget on problems nobody measures. Pure functions over the
turn outcomes, so a resumed run drops the same models at the same round.
"""

from __future__ import annotations

from collections.abc import Mapping

from stepstones.tools.schema import ModelDrop, TurnOutcome

MAX_FAILED_TURNS = 3


def health_key(role: str, model: str) -> str:
    """One counter per model and role (the same model may be teacher and student)."""
    return f"{role}:{model}"


def track(health: Mapping[str, int], outcome: TurnOutcome, teacher: str) -> dict[str, int]:
    """Consecutive failed turns per model after `outcome`: a failure adds one, an answer resets."""
    new = dict(health)
    failed = {health_key(f.role, f.model) for f in outcome.model_failures}
    for key in failed:
        new[key] = new.get(key, 0) + 1
    answered = [health_key("student", s) for s in outcome.answered]
    if outcome.teacher_calls and health_key("teacher", teacher) not in failed:
        answered.append(health_key("teacher", teacher))
    for key in answered:
        if key not in failed:
            new[key] = 0
    return new


def newly_dropped(
    health: Mapping[str, int], dropped: Mapping[str, ModelDrop], outcome: TurnOutcome, round_: int
) -> list[ModelDrop]:
    """Models that `outcome` took to MAX_FAILED_TURNS failed turns in a row."""
    drops = []
    for failure in outcome.model_failures:
        key = health_key(failure.role, failure.model)
        if key in dropped or health.get(key, 0) < MAX_FAILED_TURNS:
            continue
        drops.append(
            ModelDrop(
                model=failure.model,
                role=failure.role,
                round=round_,
                reason=f"failed {health[key]} turns in a row; last: {failure.error}"[:500],
                lineage_id=outcome.lineage_id,
                turn=outcome.turn,
                failed_turns=health[key],
            )
        )
    return drops
