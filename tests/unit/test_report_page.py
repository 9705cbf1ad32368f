"""The report page from a small hand-made bank (no run, no sandbox): the counts it labels, the
pass-rate histograms, the per-student pass rates and the stepping-stone trees (issue 17)."""

from __future__ import annotations

import html
from pathlib import Path

import pytest

from stepstones.graphs.bands import Band
from stepstones.graphs.context import RunContext
from stepstones.graphs.report import build_report
from stepstones.reporting import plots, trees
from stepstones.reporting.page import Pre, _html, build_sections, count_stones
from stepstones.tools.schema import (
    Critique,
    Lineage,
    PerformanceSummary,
    Rejection,
    StudentStats,
    TurnOutcome,
)
from stepstones.tools.store import Bank
from tests.fakes import make_problem

BANDS = [Band(name="hard", lo=0.0, hi=0.4, quota=2), Band(name="medium", lo=0.4, hi=1.0, quota=1)]


def bank_stone(
    bank: Bank,
    lineage: str,
    turn: int,
    statement: str,
    band: str,
    rates: dict,
    parent: str | None = None,
    direction: str = "seed",
) -> str:
    pooled = sum(rates.values()) / len(rates)
    problem = make_problem(
        statement=statement,
        lineage=Lineage(seed_id=lineage, parent_id=parent, turn=turn, direction=direction),
        family="primes",
        level=turn + 1,
    ).model_copy(update={"band": band, "pass_rate": pooled, "pass_rates": rates})
    summary = PerformanceSummary(
        problem_id=problem.id,
        pass_rate=pooled,
        students=[
            StudentStats(student=s, samples=4, passed=int(r * 4), pass_rate=r)
            for s, r in rates.items()
        ],
    )
    outcome = TurnOutcome(
        lineage_id=lineage,
        seed_id=lineage,
        turn=turn,
        round=turn,
        direction=direction,
        teacher_calls=1,
        problem_id=problem.id,
        valid=True,
        band=band,
        pass_rate=pooled,
    )
    assert bank.put_turn_result("r", lineage, problem, [], summary, outcome) is None
    return problem.id


@pytest.fixture
def small_bank(tmp_path: Path) -> Bank:
    bank = Bank(tmp_path / "bank.sqlite")
    ctx = RunContext(bands=BANDS, bank=str(tmp_path / "bank.sqlite"))
    bank.start_run("r", ctx.model_dump(mode="json"))
    p0 = bank_stone(
        bank,
        "L0",
        0,
        "Return the primes below n.",
        "medium",
        {"sim:novice": 0.25, "sim:expert": 1.0},
    )
    bank_stone(
        bank,
        "L0",
        1,
        "Return the n-th prime.",
        "hard",
        {"sim:novice": 0.0, "sim:expert": 0.5},
        parent=p0,
        direction="harder",
    )
    bank.put_turn(
        "r",
        TurnOutcome(
            lineage_id="L0",
            seed_id="L0",
            turn=2,
            round=2,
            direction="harder",
            teacher_calls=0,
            discarded=True,
            rejections=[Rejection(code="exhausted", message="no harder variant")],
        ),
    )
    bank_stone(
        bank,
        "L1",
        0,
        "Return whether n is prime.",
        "medium",
        {"sim:novice": 0.5, "sim:expert": 0.75},
    )  # medium is full: surplus
    dup = Critique(valid=False, rejections=[Rejection(code="duplicate", message="a copy")])
    bank.put_rejection("r", "L1", 1, 0, None, dup)
    bank.put_turn(
        "r",
        TurnOutcome(
            lineage_id="L1",
            seed_id="L1",
            turn=1,
            round=1,
            direction="harder",
            teacher_calls=1,
            discarded=True,
            rejections=dup.rejections,
        ),
    )
    report = build_report(
        {"run_id": "r", "stop_reason": "teacher_exhausted"},
        ctx,
        [],
        [r["codes"] for r in bank.rejections("r")],
        bank.turns("r"),
    )
    bank.finish_run("r", "finished", report)
    yield bank
    bank.close()


def test_the_page_labels_every_turn_ending_and_the_surplus_as_report_json_does(
    small_bank: Bank, tmp_path: Path
) -> None:
    sections = {s.title: s for s in build_sections(small_bank, "r", tmp_path)}
    (rows,) = [b for b in sections["Bands vs quota"].blocks if isinstance(b, list)]
    by_band = {r["band"]: r for r in rows}
    assert (by_band["medium"]["problems"], by_band["medium"]["surplus"]) == (1, 1)
    assert by_band["hard"]["problems"] == 1
    assert by_band["exhausted"]["problems"] == 1 and by_band["discarded"]["problems"] == 1
    assert "invalid" not in by_band
    stored = small_bank.get_run("r")
    assert stored is not None and '"exhausted": 1' in stored["report"]
    (reasons,) = [b for b in sections["Rejections by reason"].blocks if isinstance(b, list)]
    assert reasons == [{"reason": "duplicate", "count": 1}]  # exhausted wrote no draft


def test_histograms_students_and_trees_render_from_a_small_bank(
    small_bank: Bank, tmp_path: Path
) -> None:
    sections = {s.title: s for s in build_sections(small_bank, "r", tmp_path)}
    (hist,) = sections["Pass rates per band"].images
    assert hist.stat().st_size > 1000
    students = next(b for b in sections["Pass rates per student"].blocks if isinstance(b, list))
    novice = next(r for r in students if r["student"] == "sim:novice")
    assert novice["problems"] == 3
    assert novice["mean pass rate"] == pytest.approx((0.25 + 0.0 + 0.5) / 3)
    assert novice["hard"] == 0.0 and novice["medium"] == pytest.approx(0.375)
    assert sections["Pass rates per student"].images
    forest = [b.text for b in sections["Stepping-stone trees"].blocks if isinstance(b, Pre)]
    assert forest[0].splitlines() == [
        "turn 0 · seed · medium 0.62 · primes/1 · Return the primes below n.",
        "└── turn 1 · harder · hard 0.25 · primes/2 · Return the n-th prime.",
        "    └── turn 2 · harder · exhausted: no harder variant",
    ]
    assert "discarded: a copy" in forest[1]
    page = _html(list(sections.values()), "t")
    assert page.count("<pre>") == 2 and html.escape(forest[0].splitlines()[1]) in page


def test_a_tree_branches_where_two_stones_share_a_parent() -> None:
    root = make_problem(statement="a", lineage=Lineage(seed_id="s"))
    kids = [
        make_problem(statement=s, lineage=Lineage(seed_id="s", parent_id=root.id, turn=t))
        for t, s in ((1, "b"), (2, "c"))
    ]
    turns = [
        TurnOutcome(
            lineage_id="L",
            seed_id="s",
            turn=t,
            direction="seed",
            teacher_calls=1,
            problem_id=p.id,
            valid=True,
            band="x",
            pass_rate=0.5,
        )
        for t, p in enumerate([root, *kids])
    ]
    text = trees.render(trees.lineage_tree(turns, {p.id: p for p in [root, *kids]}))
    assert [line[:4] for line in text.splitlines()] == ["turn", "├── ", "└── "]


def test_the_legend_sits_beside_the_bars_and_count_axes_tick_whole_numbers() -> None:
    # Seen in a headless-Chromium screenshot (scripts/screenshots.py): the per-student legend
    # covered bars reaching 1.0, and a lineage count axis ticked 0.25, 0.50, ...
    fig = plots.grouped_bars(
        ["hard", "easy"], {"a": [1.0, 0.2], "b": [0.9, 1.0]}, title="t", ylabel="pass rate"
    )
    ax = fig.axes[0]
    plots.legend_outside(ax)
    ax.set_ylim(0, 2.2)
    plots.count_axis(ax)
    fig.canvas.draw()
    legend = ax.get_legend()
    assert legend is not None
    assert legend.get_window_extent().x0 >= ax.get_window_extent().x1
    ticks = [t for t in ax.get_yticks() if 0 <= t <= 2.2]
    assert len(ticks) >= 2 and all(float(t).is_integer() for t in ticks), ticks


def test_stones_are_counted_in_words() -> None:
    assert (count_stones(1), count_stones(3)) == ("1 stone", "3 stones")
