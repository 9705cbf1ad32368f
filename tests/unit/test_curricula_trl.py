"""The GRPO layout of a curriculum: TRL's RepeatSampler grouping, each batch's band by step.

Pure Python (no torch, no TRL); the test that installs it on a trainer needs torch and
transformers and skips without them. tests/integration/test_trainer_recipes.py trains TRL with it.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from stepstones.tools.curricula import BandSchedule, CurriculumSampler, PassRateController, Phase
from stepstones.tools.curricula_trl import (
    GroupedCurriculum,
    RewardFeed,
    curriculum_policy,
    load_curriculum,
    use_curriculum,
)

BANDS = ["easy"] * 6 + ["medium"] * 6 + ["hard"] * 6
BY_STEP = BandSchedule(
    name="by-step",
    phases=[Phase(start=0, weights={"hard": 1}), Phase(start=2, weights={"easy": 1})],
)


def batches(stream: list[int], size: int) -> list[list[int]]:
    return [stream[i : i + size] for i in range(0, len(stream), size)]


def test_the_layout_is_repeat_samplers_groups_and_repeats() -> None:
    grouped = GroupedCurriculum(
        CurriculumSampler(BANDS, BY_STEP, seed=0), group_size=3, prompts_per_batch=2,
        batch_repeats=2,
    )  # fmt: skip
    out = list(grouped)
    assert len(out) == len(grouped) == 9 * 2 * 2 * 3  # 18 rows // 2 prompts = 9 batches a pass
    for batch in batches(out, 2 * 2 * 3):
        first, again = batch[:6], batch[6:]
        assert first == again  # the batch repeats whole (reused generations)
        for group in batches(first, 3):
            assert len(set(group)) == 1  # one prompt num_generations times in a row
    assert [len(p) for _, p in grouped.drawn] == [2] * 9


def test_each_batch_is_drawn_at_the_step_it_is_trained_at() -> None:
    # 2 micro-steps per optimiser step, each batch yielded for 1 micro-step: 2 batches a step.
    grouped = GroupedCurriculum(
        CurriculumSampler(BANDS, BY_STEP, seed=1), group_size=2, prompts_per_batch=2,
        micro_steps_per_step=2,
    )  # fmt: skip
    list(grouped)
    assert [s for s, _ in grouped.drawn] == [0, 0, 1, 1, 2, 2, 3, 3, 4]
    for step, prompts in grouped.drawn:
        assert {BANDS[i] for i in prompts} == ({"hard"} if step < 2 else {"easy"})
    # A batch reused over 4 micro-steps of 2 per step spans two steps: batch k is at step 2k.
    wide = GroupedCurriculum(
        CurriculumSampler(BANDS, BY_STEP, seed=1), group_size=2, prompts_per_batch=2,
        batch_repeats=4, micro_steps_per_step=2,
    )  # fmt: skip
    assert [wide.step_of(k) for k in range(3)] == [0, 2, 4]
    # The count carries over into the next pass: the schedule keeps going.
    list(grouped)
    assert grouped.drawn[-1][0] == 8


def test_the_reward_feed_steers_an_online_policy_by_band() -> None:
    controller = PassRateController(["easy", "medium", "hard"], target=0.5, level=1.0)
    feed = RewardFeed(controller)

    def reward(completions: list[str], **kwargs: Any) -> list[float | None]:
        return [1.0 if b == "easy" else 0.0 if b == "hard" else None for b in kwargs["band"]]

    observed = feed.wrap(reward)
    assert observed.__name__ == "reward"
    assert observed(["a", "b", "c", "d"], band=["easy", "easy", "hard", "medium"]) == [
        1.0, 1.0, 0.0, None]  # fmt: skip
    assert sorted(feed.pairs()) == [("easy", 1.0), ("easy", 1.0), ("hard", 0.0)]
    assert feed.flush() == {"easy": 1.0, "hard": 0.0}
    assert feed.pairs() == [] and controller.pass_rates == {"easy": 1.0, "hard": 0.0}
    level = controller.level
    feed.flush([("easy", 1.0), ("medium", 1.0), ("hard", 1.0)])  # passing everything: harder
    assert controller.level > level


def test_policies_come_from_names_over_the_rows_own_bands(tmp_path: Path) -> None:
    bands = ["medium", "hard", "medium", None]
    rates = [0.5, 0.1, 0.6, 0.9]
    staged = curriculum_policy("medium_start", bands, rates, 6)
    assert isinstance(staged, BandSchedule)
    # unbanded is easiest by its pass rate but no preset stage; the bands present, medium first
    assert [next(iter(p.weights or {})) for p in staged.phases] == ["medium", "hard"]
    online = curriculum_policy("online", bands, rates, 6)
    assert isinstance(online, PassRateController)
    assert online.bands == ["unbanded", "medium", "hard"]
    assert curriculum_policy(BY_STEP, bands, rates, 6) is BY_STEP
    with pytest.raises(ValueError, match="unknown curriculum"):
        curriculum_policy("zigzag", bands, rates, 6)
    table = tmp_path / "table.json"
    table.write_text(BY_STEP.model_dump_json())
    assert load_curriculum(str(table)) == BY_STEP
    assert load_curriculum("hard_to_easy") == "hard_to_easy"


@pytest.mark.skipif(
    any(importlib.util.find_spec(m) is None for m in ("torch", "transformers", "datasets")),
    reason="needs torch, transformers and datasets",
)
def test_use_curriculum_replaces_the_trainers_sampler() -> None:
    from datasets import Dataset
    from torch.utils.data import Sampler

    data = Dataset.from_dict({"band": BANDS, "pass_rate": [0.9] * 6 + [0.5] * 6 + [0.1] * 6})
    added: list[Any] = []
    trainer = SimpleNamespace(
        train_dataset=data,
        num_generations=2,
        num_iterations=1,
        args=SimpleNamespace(
            steps_per_generation=1, generation_batch_size=4, gradient_accumulation_steps=1,
            max_steps=3, num_train_epochs=1, seed=7,
        ),
        reward_funcs=[lambda completions, **kw: [0.0] * len(completions)],
        add_callback=added.append,
    )  # fmt: skip
    grouped = use_curriculum(trainer, "medium_start")
    sampler = trainer._get_train_sampler(data)
    assert isinstance(sampler, Sampler) and len(sampler) == len(grouped) == 9 * 4
    out = list(sampler)
    assert [{BANDS[i] for i in b} for b in batches(out, 4)[:3]] == [
        {"medium"}, {"hard"}, {"easy"}]  # fmt: skip
    assert added == []  # a fixed schedule needs no feedback
    use_curriculum(trainer, "online")
    assert len(added) == 1 and hasattr(added[0], "on_step_end")
