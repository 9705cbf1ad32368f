"""A model failure is never a wrong answer (issue 12, class 5), over a real HTTP endpoint.

The audit's instance: a student endpoint that dies after the run has started answered HTTP 500
to every sample, each was judged as wrong_answer with pass rate 0, every problem was banded
too_hard and the whole teacher budget went (360 attempts, 407 teacher calls, exit 0). Here the
student is a `vllm:` spec on the OpenAI stand-in server, resolved as the CLI resolves it; the
server answers the preflight and then fails everything with 500.
"""

from __future__ import annotations

from pathlib import Path

from stepstones.evals.openai_standin import OpenAIStandin
from stepstones.graphs.bands import Band
from stepstones.graphs.context import Budget, CriticConfig, RunContext
from stepstones.runner import run_pipeline
from stepstones.tools.store import Bank
from tests.conftest import needs_bwrap

CODE = "```python\ndef solve(*args):\n    return None\n```"


@needs_bwrap
async def test_an_endpoint_that_dies_mid_run_is_dropped_and_bands_nothing(tmp_path: Path) -> None:
    with OpenAIStandin(reply=CODE) as server:
        spec = f"vllm:standin@{server.base_url}"
        ctx = RunContext(
            students=["sim:expert", spec],
            samples=2,
            concurrency=2,
            seed=1,
            max_retries=1,
            critic=CriticConfig(decontaminate=False, mutants=2),
            budget=Budget(max_teacher_calls=60, max_turns_per_seed=3),
            bands=[Band(name="all", lo=0.0, hi=1.0, quota=4)],
        )
        # The preflight's one request answers; then the endpoint is dead for good.
        server.fail_next.extend([500] * 100_000)
        server.fail_next.appendleft(200)
        out = tmp_path / "run"
        result = await run_pipeline(ctx, out, run_id="dead")
        asked = len(server.requests)

    assert result.stop_reason == "quotas_filled"
    bank = Bank(out / "bank.sqlite")
    try:
        attempts = list(bank.attempts("dead"))
        problems = list(bank.problems("dead"))
        turns = bank.turns("dead")
        (drop,) = bank.model_drops("dead")
    finally:
        bank.close()
    # Not one failed sample became an attempt, a pass rate or a band.
    assert attempts and {a.student for a in attempts} == {"sim:expert"}
    assert all(set(p.pass_rates) == {"sim:expert"} for p in problems)
    assert drop.model == spec and drop.role == "student" and "500" in drop.reason
    failed = [t for t in turns if t.model_failures]
    assert 3 <= len(failed) <= 3 + ctx.lineages_in_flight - 1
    # Dropped, it is asked no more: its requests stop at the turns before the drop.
    assert asked <= 1 + len(failed) * ctx.samples * (1 + ctx.max_retries)
    report = result.report
    assert report["dropped_models"][0]["model"] == spec
    assert report["model_failures"][f"student:{spec}"]["turns"] == len(failed)
