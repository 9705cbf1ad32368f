"""The GRPO layout of a curriculum: TRL's RepeatSampler grouping, each batch's band by step.

Pure Python (no torch, no TRL); the test that installs it on a trainer needs torch and
transformers and skips without them. tests/integration/test_trainer_recipes.py trains TRL with it.
"""

from __future__ import annotations

import importlib.util
import itertools
import json
from collections.abc import Iterable, Iterator
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
    # The next pass starts where the trainer's next epoch does: 9 micro-batches of 2 a step
    # are 5 steps (the last one short), so at step 5; the schedule keeps going.
    list(grouped)
    assert grouped.steps_per_pass == 5
    assert [s for s, _ in grouped.drawn][9:] == [5, 5, 6, 6, 7, 7, 8, 8, 9]


def chunks(stream: Iterable[int], size: int) -> Iterator[list[int]]:
    it = iter(stream)
    while batch := list(itertools.islice(it, size)):
        yield batch


def run_trainer(
    grouped: GroupedCurriculum, clock: dict[str, int], max_steps: int, *, resume: int = 0
) -> list[tuple[int, list[int]]]:
    """transformers' training loop over `grouped`, in miniature: (global step, micro-batch) of
    every micro-batch trained.

    As Trainer._inner_training_loop (transformers 5.19) does: a loader of one generation batch
    per micro-step, `len(loader)` micro-steps an epoch, an update every
    `micro_steps_per_step` and at the epoch's end; resumed at step `resume`, the epochs before
    it are never iterated and its own epoch's trained micro-batches are drawn and dropped
    (accelerate's skip_first_batches). The sampler is iterated lazily with one batch fetched
    ahead, as accelerate's DataLoaderShard does.
    """
    chunk = grouped.prompts_per_batch * grouped.group_size
    ga = grouped.micro_steps_per_step
    n = len(grouped) // chunk
    per_epoch = max(n // ga + int(n % ga > 0), 1)
    clock["step"] = resume
    first_epoch, skip = divmod(resume, per_epoch)
    trained: list[tuple[int, list[int]]] = []
    for epoch in range(first_epoch, -(-max_steps // per_epoch)):
        loader = chunks(grouped, chunk)
        ahead = next(loader)
        for i in range(n):
            batch, ahead = ahead, next(loader, [])
            if epoch == first_epoch and i < skip * ga:
                continue
            trained.append((clock["step"], batch))
            if (i + 1) % ga == 0 or i + 1 == n:
                clock["step"] += 1
                if clock["step"] == max_steps:
                    return trained
    return trained


STAGED = BandSchedule(
    name="staged",
    phases=[
        Phase(start=0, weights={"hard": 1}), Phase(start=3, weights={"easy": 1}),
        Phase(start=6), Phase(start=8, weights={"medium": 1}), Phase(start=11, weights={"hard": 1}),
    ],
)  # fmt: skip


def clocked(clock: dict[str, int], seed: int = 4) -> GroupedCurriculum:
    # 18 rows // 2 prompts = 9 batches a pass, 2 micro-steps a step: 5 steps an epoch (4.5)
    return GroupedCurriculum(
        CurriculumSampler(BANDS, STAGED, seed=seed), group_size=2, prompts_per_batch=2,
        micro_steps_per_step=2, clock=lambda: clock["step"],
    )  # fmt: skip


@pytest.mark.parametrize("resume", [7, 10, 5, 2])
def test_a_run_resumed_in_a_fresh_process_goes_on_at_the_step_it_stopped_at(resume: int) -> None:
    # 12 steps are three epochs (5, 5, 2); resumed past the first epoch mid-epoch (7), at an
    # epoch's first step (10, 5), and inside the first epoch (2).
    clock: dict[str, int] = {}
    whole = run_trainer(clocked(clock), clock, 12)
    steps = [s for s, _ in whole]
    assert sorted(set(steps)) == list(range(12)) and steps.count(4) == steps.count(9) == 1
    for step, batch in whole:
        weights = STAGED.weights_at(step)
        if weights is not None:
            assert {BANDS[i] for i in batch} == set(weights), (step, batch)
    again = clocked(clock)  # a fresh sampler, as a new process builds one
    resumed = run_trainer(again, clock, 12, resume=resume)
    # the schedule at the trainer's steps, and the very rows the uninterrupted run drew
    assert resumed == [(s, b) for s, b in whole if s >= resume]
    assert again.drawn[0][0] == 5 * (resume // 5)  # the dropped batches, drawn at their steps


def test_without_data_skip_an_epoch_starts_at_the_trainers_step() -> None:
    grouped = GroupedCurriculum(
        CurriculumSampler(BANDS, STAGED, seed=0), group_size=2, prompts_per_batch=2,
        micro_steps_per_step=2, skips_trained_batches=False,
    )  # fmt: skip
    assert grouped.seek(7) == 7 and grouped.passes == 1 and grouped.batches == 9
    assert grouped.seek(2) == 2 and grouped.batches == 0  # replayed back to the seed


def test_the_controllers_state_survives_a_round_trip() -> None:
    controller = PassRateController(["easy", "medium", "hard"], target=0.5)
    controller.update({"easy": 1.0, "medium": 0.9})
    fresh = PassRateController(["easy", "medium", "hard"], target=0.5)
    fresh.load_state(json.loads(json.dumps(controller.state())))
    assert fresh.level == controller.level and fresh.pass_rates == controller.pass_rates
    assert fresh.weights() == controller.weights()


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

    def built() -> SimpleNamespace:
        return SimpleNamespace(
            train_dataset=data,
            num_generations=2,
            num_iterations=1,
            args=SimpleNamespace(
                steps_per_generation=1, generation_batch_size=4, gradient_accumulation_steps=1,
                max_steps=3, num_train_epochs=1, seed=7,
            ),
            state=SimpleNamespace(global_step=0, stateful_callbacks={}),
            reward_funcs=[lambda completions, **kw: [0.0] * len(completions)],
            add_callback=added.append,
        )  # fmt: skip

    trainer = built()
    grouped = use_curriculum(trainer, "medium_start")
    sampler = trainer._get_train_sampler(data)
    assert isinstance(sampler, Sampler) and len(sampler) == len(grouped) == 9 * 4
    out = list(sampler)
    assert [{BANDS[i] for i in b} for b in batches(out, 4)[:3]] == [
        {"medium"}, {"hard"}, {"easy"}]  # fmt: skip
    assert added == []  # a fixed schedule needs no feedback
    # The sampler reads the trainer's step as a pass starts. Resumed at step 2 of the first
    # epoch (9 steps), the trainer drops the batches of steps 0 and 1 and trains step 2's;
    # with ignore_data_skip, it trains the epoch's first batch at step 2.
    trainer.state.global_step = 2
    again = use_curriculum(trainer, "medium_start")
    list(trainer._get_train_sampler(data))
    assert [step for step, _ in again.drawn][:3] == [0, 1, 2]
    trainer.args.ignore_data_skip = True
    use_curriculum(trainer, "medium_start")
    assert {BANDS[i] for i in list(trainer._get_train_sampler(data))[:4]} == {"easy"}
    trainer.args.ignore_data_skip = False

    online = use_curriculum(trainer, "online")
    assert len(added) == 1 and hasattr(added[0], "on_step_end")
    controller = online.curriculum.policy
    assert isinstance(controller, PassRateController)
    controller.update({"easy": 1.0, "medium": 1.0, "hard": 0.9})
    # What the Trainer writes into a checkpoint's trainer_state.json, read back by a fresh
    # process's callback as training begins.
    saved = {type(added[0]).__name__: json.loads(json.dumps(added[0].state()))}
    resumed = use_curriculum(built(), "online")
    added[1].on_train_begin(None, SimpleNamespace(stateful_callbacks=saved), None)
    assert resumed.curriculum.policy.state() == controller.state()  # type: ignore[attr-defined]
    # From a checkpoint made without it, the callback adds the key the Trainer saves under.
    bare = SimpleNamespace(stateful_callbacks={})
    added[1].on_train_begin(None, bare, None)
    assert list(bare.stateful_callbacks) == [type(added[0]).__name__]
