"""Curriculum orderings: easy to hard by band, stepping stones within lineages, band mixtures."""

from __future__ import annotations

from collections import Counter

import pytest

from stepstones.tools.schedule import (
    UNBANDED,
    BandRange,
    Step,
    band_order,
    bands_from_config,
    easy_to_hard,
    lineage_order,
    medium_first_order,
    mixture,
    parse_mix,
    schedule,
)
from stepstones.tools.schema import Lineage, Problem, TestCase

BANDS = [BandRange("hard", 0.0, 1 / 3), BandRange("medium", 1 / 3, 2 / 3),
         BandRange("easy", 2 / 3, 1.0)]  # fmt: skip


def problem(
    name: str,
    band: str | None,
    rate: float,
    *,
    root: str | None = None,
    parent: str | None = None,
    turn: int = 0,
) -> Problem:
    """A problem whose id is `name`, so orderings read as names."""
    return Problem(
        id=name, statement=name, tests=[TestCase(input="[]", expected="0")],
        reference_solution="def solve():\n    return 0\n", band=band, pass_rate=rate,
        lineage=Lineage(seed_id="s", root_id=root, parent_id=parent, turn=turn),
    )  # fmt: skip


def ids(steps: list[Step]) -> list[str]:
    return [s.problem.id for s in steps]


def test_easy_to_hard_orders_bands_by_range_then_pass_rate() -> None:
    items = [
        problem("h1", "hard", 0.1),
        problem("e1", "easy", 0.7),
        problem("m1", "medium", 0.5),
        problem("e2", "easy", 0.9),
        problem("h2", "hard", 0.3),
        problem("u", None, 0.5),
    ]
    steps = easy_to_hard(items, BANDS)
    assert ids(steps) == ["e2", "e1", "m1", "h2", "h1", "u"]
    assert [s.stage for s in steps] == ["easy", "easy", "medium", "hard", "hard", "unbanded"]
    assert [s.index for s in steps] == list(range(6))


def test_reverse_and_medium_first_orders_and_the_default() -> None:
    items = [
        problem("h1", "hard", 0.1),
        problem("e1", "easy", 0.7),
        problem("m1", "medium", 0.5),
        problem("e2", "easy", 0.9),
        problem("h2", "hard", 0.3),
        problem("u", None, 0.5),
    ]
    reverse = schedule(items, "hard_to_easy", bands=BANDS)
    assert ids(reverse) == ["h2", "h1", "m1", "e2", "e1", "u"]
    medium = schedule(items, "medium_first", bands=BANDS)
    assert ids(medium) == ["m1", "h2", "h1", "e2", "e1", "u"]
    assert [s.stage for s in medium] == ["medium", "hard", "hard", "easy", "easy", "unbanded"]
    assert ids(schedule(items, bands=BANDS)) == ids(medium)  # the default is medium-first


def test_medium_first_order_with_the_papers_four_bins() -> None:
    # the paper's broader set, easiest first: medium, then harder, then easier, easiest last
    assert medium_first_order(["easy", "easy_medium", "medium", "hard"]) == [
        "medium", "hard", "easy_medium", "easy"]  # fmt: skip
    # no band named medium: the middle one (the harder of two middles)
    assert medium_first_order(["a", "b", "c", "d", UNBANDED]) == ["c", "d", "b", "a", UNBANDED]
    assert medium_first_order([]) == []


def test_band_order_without_config_uses_mean_pass_rate() -> None:
    items = [problem("a", "warm", 0.8), problem("b", "cold", 0.2), problem("c", "tepid", 0.5)]
    assert band_order(items) == ["warm", "tepid", "cold"]
    config = {"bands": [{"name": b.name, "lo": b.lo, "hi": b.hi, "quota": 1} for b in BANDS]}
    assert bands_from_config(config) == BANDS
    assert bands_from_config({}) == []


def test_lineage_order_is_stepping_stones_interleaved() -> None:
    items = [
        # lineage A: seed a0, a harder child a1, and a grandchild a2 found only by parent links
        problem("a1", "hard", 0.2, root="a0", parent="a0", turn=1),
        problem("a0", "medium", 0.6),
        problem("a2", "hard", 0.1, parent="a1", turn=2),
        # lineage B: the teacher went easier from a hard seed
        problem("b0", "hard", 0.3),
        problem("b1", "easy", 0.9, root="b0", parent="b0", turn=1),
    ]
    steps = lineage_order(items)
    assert ids(steps) == ["b1", "a0", "b0", "a1", "a2"]
    assert [s.stage for s in steps] == ["step_0", "step_0", "step_1", "step_1", "step_2"]


def test_mixture_keeps_ratios_in_every_prefix_and_is_deterministic() -> None:
    items = [problem(f"h{i}", "hard", 0.2) for i in range(4)]
    items += [problem(f"m{i}", "medium", 0.5) for i in range(10)]
    items += [problem(f"e{i}", "easy", 0.9) for i in range(6)]
    ratios = parse_mix("hard=0.2,medium=0.5,easy=0.3")
    steps = mixture(items, ratios, seed=7)
    assert len(steps) == 20
    bands = [s.problem.band for s in steps]
    for n in (10, 20):
        assert Counter(bands[:n]) == {"hard": n // 5, "medium": n // 2, "easy": 3 * n // 10}
    assert len(set(ids(steps))) == 20  # without replacement while the bands last
    assert ids(mixture(items, ratios, seed=7)) == ids(steps)
    assert ids(mixture(items, ratios, seed=8)) != ids(steps)
    # a band smaller than its share repeats (a fresh shuffle) instead of bending the ratio
    longer = mixture(items, {"hard": 1, "easy": 1}, size=12)
    hard = [s.problem.id for s in longer if s.problem.band == "hard"]
    assert len(hard) == 6 and set(hard[:4]) == {"h0", "h1", "h2", "h3"}


def test_schedule_errors_are_clear() -> None:
    items = [problem("a", "easy", 0.9)]
    with pytest.raises(ValueError, match="no problems: legendary"):
        mixture(items, {"legendary": 1.0})
    with pytest.raises(ValueError, match="BAND=RATIO"):
        parse_mix("hard=lots")
    with pytest.raises(ValueError, match="positive ratio"):
        parse_mix("hard=0")
    with pytest.raises(ValueError, match="needs band ratios"):
        schedule(items, "mix")
    assert parse_mix("easy=1,hard=3") == {"easy": 0.25, "hard": 0.75}
