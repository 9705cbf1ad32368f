"""Records what stepstones' reward did, in any Python started with this folder on PYTHONPATH.

Test-only instrumentation for recipes run as pasted (tests/integration/test_trainer_recipes.py):
when STEPSTONES_REWARD_SPY names a file, every `stepstones.tools.reward.score` call appends one
JSON line to it: each completion with the entry point of its row and whether it became a
sandbox job, the sandbox's verdicts, and the scores returned. Nothing else changes.
"""

from __future__ import annotations

import json
import os
from typing import Any

PATH = os.environ.get("STEPSTONES_REWARD_SPY")


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
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps({**current, "scores": scores}) + "\n")
        return scores

    reward.score, reward.job, reward._RUNTIME.run = spy_score, spy_job, spy_run  # type: ignore[method-assign]


if PATH:
    _install(PATH)
