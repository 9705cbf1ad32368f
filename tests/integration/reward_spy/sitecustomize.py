"""Records what stepstones' reward did, in any Python started with this folder on PYTHONPATH.

Test-only instrumentation for recipes run as pasted (tests/integration/test_trainer_recipes.py):
when STEPSTONES_REWARD_SPY names a file, every `stepstones.tools.reward.score` call appends one
JSON line to it: each completion with the entry point of its row and whether it became a
sandbox job, the sandbox's verdicts, and the scores returned. With STEPSTONES_CURRICULUM_SPY
set too, the TRL curriculum's batches (`GroupedCurriculum.next_batch`: step and row indices)
and the per-band feedback reaching its policy (`RewardFeed.flush`: the (band, reward) pairs)
go there. In a process of a distributed run (RANK set), each file gets `.rankR` before its
suffix, so processes never write to one file. Nothing else changes.
"""

from __future__ import annotations

import json
import os
from typing import Any

PATH = os.environ.get("STEPSTONES_REWARD_SPY")
CURRICULUM_PATH = os.environ.get("STEPSTONES_CURRICULUM_SPY")
RANK = os.environ.get("RANK")


def _ranked(path: str) -> str:
    if RANK is None:
        return path
    stem, dot, suffix = path.rpartition(".")
    return f"{stem}.rank{RANK}.{suffix}" if dot else f"{path}.rank{RANK}"


def _append(path: str, record: dict[str, Any]) -> None:
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps({**record, "rank": RANK}) + "\n")


def _install(path: str) -> None:
    from stepstones.tools import reward

    score, job, run = reward.score, reward.job, reward._RUNTIME.run
    current: dict[str, list[Any]] = {}

    def spy_job(truth: Any, completion: str, limits: Any) -> Any:
        sub = job(truth, completion, limits)
        current["jobs"].append(
            {
                "completion": completion,
                "entry_point": truth.entry_point,
                "environment": truth.environment,
                "submitted": sub is not None,
            }
        )
        return sub

    def spy_run(submissions: Any) -> Any:
        verdicts = run(submissions)
        current["verdicts"].extend(
            v.model_dump(include={"status", "passed", "total", "isolation"}) for v in verdicts
        )
        return verdicts

    def spy_score(completions: Any, truths: Any, **kwargs: Any) -> list[float]:
        current.update(jobs=[], verdicts=[])
        scores = score(completions, truths, **kwargs)
        _append(path, {**current, "scores": scores})
        return scores

    reward.score, reward.job, reward._RUNTIME.run = spy_score, spy_job, spy_run  # type: ignore[method-assign]


def _install_curriculum(path: str) -> None:
    from stepstones.tools import curricula_trl

    next_batch = curricula_trl.GroupedCurriculum.next_batch
    flush = curricula_trl.RewardFeed.flush

    def spy_next_batch(self: Any, *args: Any) -> list[int]:
        prompts = next_batch(self, *args)
        step, drawn = self.drawn[-1]
        _append(path, {"step": step, "prompts": drawn})
        return prompts

    def spy_flush(self: Any, pairs: Any = None) -> dict[str, float]:
        got = self.pairs() if pairs is None else pairs
        _append(path, {"feedback": [list(p) for p in got]})
        return flush(self, pairs)

    curricula_trl.GroupedCurriculum.next_batch = spy_next_batch  # type: ignore[method-assign]
    curricula_trl.RewardFeed.flush = spy_flush  # type: ignore[method-assign]


if PATH:
    _install(_ranked(PATH))
if CURRICULUM_PATH:
    _install_curriculum(_ranked(CURRICULUM_PATH))
