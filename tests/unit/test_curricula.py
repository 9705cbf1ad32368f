"""Curricula as samplers: tables read back at their steps, presets, the online controller."""

from __future__ import annotations

import importlib.util
from collections import Counter

import pytest
from pydantic import ValidationError

from stepstones.tools.curricula import (
    PRESET_SOURCE,
    BandSchedule,
    CurriculumSampler,
    PassRateController,
    Phase,
    as_torch_sampler,
    band_prior,
    bands_easiest_first,
    preset,
)

TABLE = BandSchedule(
    name="table",
    phases=[
        Phase(start=0, weights={"medium": 3, "hard": 1}),
        Phase(start=100, weights={"hard": 1}),
        Phase(start=250, weights={"easy": 1, "medium": 1, "hard": 2}),
    ],
)
BANDS = ["easy"] * 40 + ["medium"] * 40 + ["hard"] * 40


@pytest.mark.parametrize(
    ("step", "weights"),
    [
        (0, {"medium": 0.75, "hard": 0.25}),
        (99, {"medium": 0.75, "hard": 0.25}),
        (100, {"hard": 1.0}),
        (249, {"hard": 1.0}),
        (250, {"easy": 0.25, "medium": 0.25, "hard": 0.5}),
        (10_000, {"easy": 0.25, "medium": 0.25, "hard": 0.5}),
    ],
)
def test_a_schedule_reads_its_table_at_each_step(step: int, weights: dict[str, float]) -> None:
    assert TABLE.weights_at(step) == pytest.approx(weights)


def test_a_table_round_trips_and_bad_tables_are_refused() -> None:
    assert BandSchedule.model_validate_json(TABLE.model_dump_json()) == TABLE
    assert [(a, b) for a, b, _ in TABLE.table()] == [(0, 99), (100, 249), (250, None)]
    with pytest.raises(ValidationError, match="begin at 0"):
        BandSchedule(name="x", phases=[Phase(start=5, weights={"hard": 1})])
    with pytest.raises(ValidationError, match="increase"):
        BandSchedule(name="x", phases=[Phase(start=0), Phase(start=9), Phase(start=3)])
    with pytest.raises(ValidationError, match="positive sum"):
        Phase(start=0, weights={"hard": 0})


def test_presets_spend_equal_ranges_on_one_band_in_their_order() -> None:
    def bands_at(name: str, steps: list[int]) -> list[str]:
        s = preset(name, 300)  # type: ignore[arg-type]
        return [next(iter(s.weights_at(t) or {"?": 1})) for t in steps]

    at = [0, 99, 100, 199, 200, 299, 5000]
    assert bands_at("easy_to_hard", at) == ["easy", "easy", "medium", "medium", "hard", "hard",
                                            "hard"]  # fmt: skip
    assert bands_at("hard_to_easy", at)[::2] == ["hard", "medium", "easy", "easy"]
    assert bands_at("medium_start", at)[::2] == ["medium", "hard", "easy", "easy"]
    assert preset("uniform", 300).weights_at(7) is None
    assert preset("medium_start", 300).source == PRESET_SOURCE and "ours" in PRESET_SOURCE
    four = preset("medium_start", 8, ["easy", "easy_medium", "medium", "hard"])
    assert [p.start for p in four.phases] == [0, 2, 4, 6]
    assert [next(iter(p.weights or {})) for p in four.phases] == [
        "medium", "hard", "easy_medium", "easy"]  # fmt: skip
    with pytest.raises(ValueError, match="unknown preset"):
        preset("zigzag", 10)  # type: ignore[arg-type]


def test_the_sampler_follows_the_schedule_as_steps_advance() -> None:
    sampler = CurriculumSampler(BANDS, preset("medium_start", 30), rows_per_step=4,
                                num_samples=120, seed=1)  # fmt: skip
    drawn = [BANDS[i] for i in sampler]
    assert sampler.step == 30
    # steps 0-9 medium, 10-19 hard, 20-29 easy; 4 rows per step
    assert set(drawn[:40]) == {"medium"} and set(drawn[40:80]) == {"hard"}
    assert set(drawn[80:]) == {"easy"}
    again = CurriculumSampler(BANDS, preset("medium_start", 30), rows_per_step=4,
                              num_samples=120, seed=1)  # fmt: skip
    firsts = list(again)
    # inside a band, a shuffle without replacement: 40 draws of 40 rows cover each once
    assert sorted(firsts[:40]) == list(range(40, 80))
    assert [BANDS[i] for i in firsts] == drawn


def test_the_sampler_is_deterministic_with_a_seed() -> None:
    def run(seed: int) -> list[int]:
        return list(CurriculumSampler(BANDS, TABLE, num_samples=300, seed=seed))

    assert run(3) == run(3)
    assert run(3) != run(4)


def test_uniform_and_weighted_draws_match_their_weights() -> None:
    skewed = ["easy"] * 90 + ["hard"] * 10
    uniform = Counter(
        skewed[i] for i in CurriculumSampler(skewed, preset("uniform", 1), num_samples=2000, seed=0)
    )
    assert 0.85 < uniform["easy"] / 2000 < 0.95  # uniform over rows, not over bands
    weighted = CurriculumSampler(skewed, TABLE, num_samples=2000, seed=0)
    assert weighted.weights() == {"hard": 1.0}  # medium has no rows: the rest renormalised
    only = BandSchedule(name="x", phases=[Phase(start=0, weights={"medium": 1})])
    with pytest.raises(ValueError, match="only bands with no rows"):
        CurriculumSampler(skewed, only).draw()


TRUE_RATES = {"easy": 0.9, "medium": 0.5, "hard": 0.1}


def test_the_online_sampler_moves_towards_the_target_pass_rate() -> None:
    controller = PassRateController(["easy", "medium", "hard"], target=0.5, level=0.0)
    sampler = CurriculumSampler(BANDS, controller, num_samples=10_000, seed=0)
    gaps, levels = [], []
    for _ in range(12):  # a scripted feed: each band's policy pass rate, as observed
        batch = [sampler.draw() for _ in range(64)]
        rewards = [TRUE_RATES[BANDS[i]] for i in batch]
        gaps.append(abs(sum(rewards) / len(rewards) - 0.5))  # what the trainer saw this step
        sampler.observe(batch, rewards)
        levels.append(controller.level)
    assert gaps[0] > 0.15 and sum(gaps[-4:]) / 4 < 0.06
    assert levels == sorted(levels) and 0.9 < levels[-1] < 1.1  # settles on medium
    expected = controller.expected_pass_rate()
    assert expected == pytest.approx(0.5, abs=0.01)
    weights = controller.weights()
    assert max(weights, key=weights.__getitem__) == "medium"
    assert min(weights.values()) >= 0.05 / 3  # the floor keeps every band in play


def test_the_online_sampler_follows_a_policy_that_improves() -> None:
    controller = PassRateController(
        ["easy", "medium", "hard"], target=0.5, prior={"easy": 0.5, "medium": 0.2, "hard": 0.05}
    )
    assert controller.level == 0.0  # starts where the prior is nearest the target
    sampler = CurriculumSampler(BANDS, controller, num_samples=10_000, seed=0)
    for rates in [{"easy": 0.5, "medium": 0.2, "hard": 0.0}] * 5 + [
        {"easy": 1.0, "medium": 0.9, "hard": 0.5}
    ] * 15:  # the policy gets better: sampling should leave easy for hard
        batch = [sampler.draw() for _ in range(32)]
        sampler.observe(batch, [rates[BANDS[i]] for i in batch])
    weights = controller.weights()
    assert max(weights, key=weights.__getitem__) == "hard"


def test_priors_and_axis_come_from_the_export_columns() -> None:
    prior = band_prior(["easy", "hard", "easy", None], [0.9, 0.1, 0.8, 0.4])
    assert prior == pytest.approx({"easy": 0.85, "hard": 0.1, "unbanded": 0.4})
    assert bands_easiest_first(prior) == ["easy", "unbanded", "hard"]


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="torch is not installed")
def test_the_torch_adapter_is_a_sampler_that_repeats_each_index() -> None:
    from torch.utils.data import Sampler

    wrapped = as_torch_sampler(CurriculumSampler(BANDS, TABLE, num_samples=5, seed=0), repeat=3)
    assert isinstance(wrapped, Sampler) and len(wrapped) == 15
    out = list(wrapped)
    assert out[0::3] == out[1::3] == out[2::3]
