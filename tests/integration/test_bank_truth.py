"""The bank is the run's truth: what the report counts, the bank holds, exactly once.

A scripted teacher and students force the edges (the same problem sent again and again); the
sandbox is the real local one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stepstones.graphs.bands import Band
from stepstones.graphs.context import Budget
from tests.fakes import ScriptedStudent, ScriptedTeacher, always_right, always_wrong
from tests.integration.test_graph_routing import SEEDS, context, run, task


def half_right() -> list[Any]:
    return [always_right(), always_wrong()]


async def test_the_same_problem_sent_again_is_a_duplicate_not_a_second_stone(
    tmp_path: Path, sandbox: Any
) -> None:
    teacher = ScriptedTeacher(lambda r: task(0))
    ctx = context(
        tmp_path,
        concurrency=2,
        bands=[Band(name="all", lo=0.0, hi=1.0, quota=10)],
        budget=Budget(max_seeds=2, max_turns_per_seed=5, max_repairs=1),
    )
    got = await run(ctx, sandbox, teacher, half_right(), seeds=SEEDS[:2])
    bank, report = got["bank"], got["state"]["report"]
    problems = list(bank.problems("r"))
    assert len(problems) == 1
    assert report["problems"]["valid"] == 1
    assert report["bands"]["all"]["count"] == 1
    assert report["lineages"]["max_depth"] == 1
    assert report["rejections_by_reason"].get("duplicate", 0) >= 1
    # The rejected copies did not overwrite the accepted problem's row.
    assert bank.problem("r", problems[0].id) is not None
    assert [t for t in bank.turns("r") if t.valid] == [
        o for o in got["state"]["outcomes"] if o.valid
    ]


async def test_a_variant_identical_to_its_parent_is_a_duplicate(
    tmp_path: Path, sandbox: Any
) -> None:
    teacher = ScriptedTeacher(lambda r: task(1))
    ctx = context(tmp_path, budget=Budget(max_seeds=1, max_turns_per_seed=3, max_repairs=0))
    got = await run(
        ctx,
        sandbox,
        teacher,
        [ScriptedStudent("half", lambda p, i: p.reference_solution if i else None)],
        seeds=SEEDS[:1],
    )
    assert len(list(got["bank"].problems("r"))) == 1
    assert got["state"]["report"]["problems"]["valid"] == 1
