"""A curriculum driving TRL's GRPOTrainer: which prompts fill each generation batch, by step.

GRPOTrainer (TRL 1.16) draws prompts through `_get_train_sampler`, whose RepeatSampler lays a
generation batch out as `generation_batch_size // num_generations` distinct prompts, each
`num_generations` times in a row (a GRPO group is the completions of one prompt), and yields
the whole batch `num_iterations * steps_per_generation` times: once per micro-step, the trainer
generating on the first and reusing its buffer after. `GroupedCurriculum` keeps that layout
exactly and changes only which prompts fill a batch: the curriculum's rows at the optimiser
step the batch is trained at. Within an epoch the step is counted from the batches drawn, not
read from the trainer's clock, because the data loader fetches one batch ahead of the step it
trains; each epoch starts where the trainer's global step says, read as its first batch is
drawn (after a checkpoint's state is loaded), so a resumed run goes on with the schedule.

`use_curriculum(trainer, "medium_start")` installs it on a built trainer; a schedule preset is
spread over `max_steps`. `"online"` uses `PassRateController`: the trainer's reward function is
wrapped to record each completion's reward with its row's `band`, and a `TrainerCallback` feeds
the per-band means of every optimiser step to the controller (the batch after the next one
feels it, since one is already fetched); the controller's state is saved with each checkpoint
and taken up again on resume.

Nothing here imports TRL; torch and transformers are imported by `use_curriculum` only, so the
layout is tested without them.
"""

from __future__ import annotations

import functools
import math
from collections import defaultdict, deque
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from stepstones.tools.curricula import (
    DEFAULT_BANDS,
    PRESETS,
    BandSchedule,
    BandWeights,
    CurriculumSampler,
    PassRateController,
    band_prior,
    bands_easiest_first,
    preset,
)
from stepstones.tools.schedule import UNBANDED

ONLINE = "online"


class GroupedCurriculum:
    """Row indices in RepeatSampler's layout, each batch's prompts drawn by `curriculum`.

    A batch holds `prompts_per_batch` prompts, each `group_size` times in a row, and is yielded
    `batch_repeats` times; `micro_steps_per_step` batches make one optimiser step. One pass
    (one epoch to the trainer) is `batches_per_pass` = `len(rows) // prompts_per_batch` batches
    (at least one) and `steps_per_pass` optimiser steps, counted as transformers' Trainer counts
    an epoch's updates (a last, short accumulation is a step). Batch b of pass p is trained at
    step `start_step + p * steps_per_pass + b * batch_repeats // micro_steps_per_step`.

    Passes follow one another unless `clock` is set: then each pass asks it for the trainer's
    global step when the pass starts and `seek`s there, so a run resumed from a checkpoint
    takes the schedule up at the step it stopped at. `drawn` keeps the last `keep` batches as
    (step, prompt indices), for a look at what training saw.
    """

    def __init__(
        self,
        curriculum: CurriculumSampler,
        *,
        group_size: int,
        prompts_per_batch: int,
        batch_repeats: int = 1,
        micro_steps_per_step: int = 1,
        start_step: int = 0,
        keep: int = 10_000,
        clock: Callable[[], int] | None = None,
        skips_trained_batches: bool = True,
    ) -> None:
        if min(group_size, prompts_per_batch, batch_repeats, micro_steps_per_step) < 1:
            raise ValueError("group size, prompts per batch and repeats must be >= 1")
        self.curriculum = curriculum
        self.group_size, self.prompts_per_batch = group_size, prompts_per_batch
        self.batch_repeats, self.micro_steps_per_step = batch_repeats, micro_steps_per_step
        self.start_step = start_step
        self.clock, self.skips_trained_batches = clock, skips_trained_batches
        self.batches = self.passes = 0
        self.batches_per_pass = max(1, len(curriculum.bands) // prompts_per_batch)
        self.steps_per_pass = steps_per_pass(
            self.batches_per_pass, batch_repeats, micro_steps_per_step
        )
        self.drawn: deque[tuple[int, list[int]]] = deque(maxlen=keep)

    def step_of(self, batch: int) -> int:
        """The optimiser step that batch number `batch` (counted from the first pass on) is
        trained at, passes following one another."""
        p, b = divmod(batch, self.batches_per_pass)
        return self.start_step + p * self.steps_per_pass + self._offset(b)

    def _offset(self, b: int) -> int:
        return b * self.batch_repeats // self.micro_steps_per_step

    def seek(self, step: int) -> int:
        """Make the next pass the epoch a trainer at optimiser step `step` is in; returns the
        step its first batch is trained at.

        The trainer runs epoch `step // steps_per_pass` and, resumed mid-epoch, skips its
        batches already trained by drawing and dropping them (`skips_trained_batches`, not
        transformers' `ignore_data_skip`): the pass starts at the epoch's first step, so the
        batches it keeps are drawn at their own steps. Without skipping, the pass starts at
        `step`. Where fewer or more batches were drawn than the passes before this one hold
        (a fresh process resuming), the draws are replayed from the seed, so a fixed schedule
        gives the rows an uninterrupted run would have given.
        """
        passes = max(0, step - self.start_step) // self.steps_per_pass
        if self.batches != passes * self.batches_per_pass:
            self.curriculum.reset()
            for k in range(passes * self.batches_per_pass):
                self._draw(self.step_of(k))
            self.batches = passes * self.batches_per_pass
        self.passes = passes
        if self.skips_trained_batches:
            return self.start_step + passes * self.steps_per_pass
        return step

    def _draw(self, step: int) -> list[int]:
        return [self.curriculum.draw(step) for _ in range(self.prompts_per_batch)]

    def next_batch(self, step: int) -> list[int]:
        """The distinct prompts of the next generation batch, trained at `step`."""
        prompts = self._draw(step)
        self.batches += 1
        self.drawn.append((step, prompts))
        return prompts

    def __iter__(self) -> Iterator[int]:
        if self.clock is not None:
            first = self.seek(self.clock())
        else:
            first = self.start_step + self.passes * self.steps_per_pass
        self.passes += 1
        for b in range(self.batches_per_pass):
            prompts = self.next_batch(first + self._offset(b))
            for _ in range(self.batch_repeats):
                for index in prompts:
                    yield from [index] * self.group_size

    def __len__(self) -> int:
        return self.batches_per_pass * self.batch_repeats * self.prompts_per_batch * self.group_size


def steps_per_pass(batches: int, batch_repeats: int, micro_steps_per_step: int) -> int:
    """Optimiser steps in one pass of `batches` batches, each yielded `batch_repeats` times:
    transformers' `num_update_steps_per_epoch` for a loader of `batches * batch_repeats`."""
    return max(1, math.ceil(batches * batch_repeats / micro_steps_per_step))


class RewardFeed:
    """Per-band rewards of the completions scored since the last `flush`, for an online policy.

    `wrap(reward_fn)` returns a reward function that scores as `reward_fn` does and records
    each score under its row's `band_column` value (TRL passes dataset columns as keyword
    arguments, one value per completion). `flush()` hands the per-band means to the policy's
    `update` and starts over.
    """

    def __init__(self, policy: BandWeights, band_column: str = "band") -> None:
        self.policy, self.band_column = policy, band_column
        self.pending: dict[str, list[float]] = defaultdict(list)

    def record(self, bands: Sequence[str | None], rewards: Sequence[float | None]) -> None:
        """Keep each reward under its band (None rewards are left out)."""
        for band, reward in zip(bands, rewards, strict=True):
            if reward is not None and not math.isnan(reward):
                self.pending[band or UNBANDED].append(float(reward))

    def wrap(self, reward_fn: Callable[..., Sequence[float | None]]) -> Callable[..., Any]:
        """`reward_fn`, recording what it returns (name and signature kept for TRL's logs)."""

        @functools.wraps(reward_fn)
        def observed(*args: Any, **kwargs: Any) -> Sequence[float | None]:
            scores = reward_fn(*args, **kwargs)
            bands = kwargs.get(self.band_column)
            if bands is not None:
                self.record(bands, scores)
            return scores

        return observed

    def pairs(self) -> list[tuple[str, float]]:
        """What is pending, as (band, reward) pairs (to gather across processes)."""
        return [(b, r) for b, rs in self.pending.items() for r in rs]

    def flush(self, pairs: Sequence[tuple[str, float]] | None = None) -> dict[str, float]:
        """Feed per-band means of `pairs` (default: this process's) to the policy; start over."""
        pairs = self.pairs() if pairs is None else pairs
        self.pending.clear()
        sums: dict[str, list[float]] = defaultdict(list)
        for band, reward in pairs:
            sums[band].append(reward)
        rates = {b: sum(v) / len(v) for b, v in sums.items()}
        update = getattr(self.policy, "update", None)
        if rates and callable(update):
            update(rates)
        return rates


def curriculum_policy(
    name: str | BandWeights,
    bands: Sequence[str | None],
    pass_rates: Sequence[float | None] | None,
    total_steps: int,
    *,
    target: float = 0.5,
) -> BandWeights:
    """A preset name, `"online"` or a policy as the policy to sample by.

    The bands are the rows' own, easiest first by their mean measured pass rate where the rows
    have one (else stepstones' default order), so a preset never weighs a band with no rows.
    """
    if not isinstance(name, str):
        return name
    prior = band_prior(bands, pass_rates) if pass_rates is not None else {}
    present = {b or UNBANDED for b in bands}
    order = [b for b in bands_easiest_first(prior) if b in present] or [
        b for b in DEFAULT_BANDS if b in present
    ]
    if name == ONLINE:
        return PassRateController(order or sorted(present), target=target, prior=prior)
    if name not in PRESETS:
        raise ValueError(f"unknown curriculum {name!r}; choose from {', '.join(PRESETS)}, online")
    return preset(name, total_steps, order)


def load_curriculum(value: str) -> str | BandSchedule:
    """A `--curriculum` value: a preset name, `online`, or a JSON file holding a BandSchedule."""
    if value in PRESETS or value == ONLINE:
        return value
    with open(value, encoding="utf-8") as f:
        return BandSchedule.model_validate_json(f.read())


def use_curriculum(
    trainer: Any,
    curriculum: str | BandWeights = "medium_start",
    *,
    band_column: str = "band",
    target: float = 0.5,
    feedback_reward: int = 0,
) -> GroupedCurriculum:
    """Make `trainer` (a built `trl.GRPOTrainer`) draw its prompts by `curriculum`; call it
    before `trainer.train()`.

    Reads the group layout from the trainer (num_generations, generation_batch_size,
    num_iterations, steps_per_generation, gradient_accumulation_steps), spreads a preset over
    `max_steps` (else the epochs' steps), seeds with `args.seed` (every process draws the same
    stream, as RepeatSampler's shared seed ensures), and replaces `_get_train_sampler`. Each
    epoch starts at the trainer's global step, so `train(resume_from_checkpoint=...)` goes on
    at the step it stopped at. An online policy also learns from
    `trainer.reward_funcs[feedback_reward]` at every optimiser step, its state kept in each
    checkpoint. Returns the sampler, whose `drawn` shows what training got.
    """
    import torch.utils.data
    from transformers import TrainerCallback
    from transformers.trainer_callback import ExportableState

    dataset, args = trainer.train_dataset, trainer.args
    if isinstance(dataset, torch.utils.data.IterableDataset) or dataset is None:
        raise ValueError("a curriculum needs a map-style train_dataset with a band column")
    bands: list[str | None] = list(dataset[band_column])
    rates = list(dataset["pass_rate"]) if "pass_rate" in dataset.column_names else None
    group = trainer.num_generations
    batch_repeats = trainer.num_iterations * args.steps_per_generation
    layout = {
        "group_size": group,
        "prompts_per_batch": args.generation_batch_size // group,
        "batch_repeats": batch_repeats,
        "micro_steps_per_step": args.gradient_accumulation_steps,
    }
    total = args.max_steps
    if total <= 0:
        per_pass = max(1, len(bands) // layout["prompts_per_batch"])
        total = math.ceil(
            args.num_train_epochs
            * steps_per_pass(per_pass, batch_repeats, args.gradient_accumulation_steps)
        )
    policy = curriculum_policy(curriculum, bands, rates, total, target=target)
    grouped = GroupedCurriculum(
        CurriculumSampler(bands, policy, seed=args.seed),
        **layout,
        clock=lambda: int(trainer.state.global_step),  # loaded from a checkpoint by then
        skips_trained_batches=not getattr(args, "ignore_data_skip", False),
    )

    class _TorchView(torch.utils.data.Sampler[int]):  # type: ignore[misc,unused-ignore]
        """`grouped` as the torch Sampler that transformers' data loader expects."""

        def __iter__(self) -> Iterator[int]:
            return iter(grouped)

        def __len__(self) -> int:
            return len(grouped)

    view = _TorchView()
    trainer._get_train_sampler = lambda dataset=None: view
    if callable(getattr(policy, "update", None)):
        feed = RewardFeed(policy, band_column)
        trainer.reward_funcs[feedback_reward] = feed.wrap(trainer.reward_funcs[feedback_reward])

        class _FeedCurriculum(TrainerCallback, ExportableState):  # type: ignore[misc,unused-ignore]
            """After each optimiser step, the step's per-band rewards, from every process; the
            policy's state goes into each checkpoint's trainer_state.json and back on resume."""

            def state(self) -> dict[str, Any]:
                export = getattr(policy, "state", None)
                saved = export() if callable(export) else None
                return {"args": {}, "attributes": {"policy": saved}}

            def on_train_begin(self, args: Any, state: Any, *rest: Any, **kwargs: Any) -> None:
                name = type(self).__name__
                saved = state.stateful_callbacks.get(name)
                saved = saved[-1] if isinstance(saved, list) and saved else saved
                policy_state = (saved or {}).get("attributes", {}).get("policy")
                load = getattr(policy, "load_state", None)
                if policy_state and callable(load):
                    load(policy_state)
                # a checkpoint written without this callback lacks the key the Trainer saves to
                state.stateful_callbacks.setdefault(name, self.state())

            def on_step_end(self, *args: Any, **kwargs: Any) -> None:
                pairs = feed.pairs()
                if trainer.accelerator.num_processes > 1:
                    from accelerate.utils import gather_object

                    pairs = gather_object(pairs)
                feed.flush(pairs)

        trainer.add_callback(_FeedCurriculum())
    return grouped
