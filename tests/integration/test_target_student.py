"""The paper's difficulty: the pass rate of one target student, the others recorded beside it."""

from __future__ import annotations

from pathlib import Path

from stepstones.graphs.bands import Band
from stepstones.graphs.context import Budget, CriticConfig, RunContext
from stepstones.runner import run_pipeline
from stepstones.tools.store import Bank
from tests.conftest import needs_bwrap


@needs_bwrap
async def test_the_target_students_pass_rate_bands_every_problem(tmp_path: Path) -> None:
    ctx = RunContext(
        students=["sim:expert", "sim:intermediate"],
        target_student="sim:intermediate",
        samples=4,
        concurrency=2,
        seed=3,
        critic=CriticConfig(decontaminate=False, mutants=2),
        budget=Budget(max_teacher_calls=24),
        bands=[
            Band(name="low", lo=0.0, hi=0.5, quota=3),
            Band(name="high", lo=0.5, hi=1.0, quota=3),
        ],
    )
    result = await run_pipeline(ctx, tmp_path / "run", run_id="t")
    bank = Bank(tmp_path / "run" / "bank.sqlite")
    try:
        problems = list(bank.problems("t"))
    finally:
        bank.close()
    assert problems
    for p in problems:
        assert set(p.pass_rates) == {"sim:expert", "sim:intermediate"}
        assert p.pass_rate == p.pass_rates["sim:intermediate"]
    # The pooled rate would differ somewhere: the expert solves more than the target does.
    assert any(p.pass_rates["sim:expert"] != p.pass_rates["sim:intermediate"] for p in problems)
    assert result.report["difficulty_from"] == "sim:intermediate"
