"""A curriculum driving TRL's GRPOTrainer: which prompts fill each generation batch, by step.

GRPOTrainer (TRL 1.16) draws prompts through `_get_train_sampler`, whose RepeatSampler lays a
generation batch out as `generation_batch_size // num_generations` distinct prompts, each
`num_generations` times in a row (a GRPO group is the completions of one prompt), and yields
the whole batch `num_iterations * steps_per_generation` times: once per micro-step, the trainer
generating on the first and reusing its buffer after. `GroupedCurriculum` keeps that layout
exactly and changes only which prompts fill a batch: the curriculum's rows at the optimiser
step the batch is trained at. The step is counted from the batches drawn, not read from the
trainer's clock, because the data loader fetches one batch ahead of the step it trains.

`use_curriculum(trainer, "medium_start")` installs it on a built trainer; a schedule preset is
spread over `max_steps`. `"online"` uses `PassRateController`: the trainer's reward function is
wrapped to record each completion's reward with its row's `band`, and a `TrainerCallback` feeds
the per-band means of every optimiser step to the controller (the batch after the next one
feels it, since one is already fetched).

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
    `batch_repeats` times; `micro_steps_per_step` batches make one optimiser step, so batch k is
    trained at step `start_step + k * batch_repeats // micro_steps_per_step`. One pass (one
    epoch to the trainer) is `len(rows) // prompts_per_batch` batches (at least one); the batch
    count carries over between passes, so the schedule keeps advancing. `drawn` keeps the last
    `keep` batches as (step, prompt indices), for a look at what training saw.
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
    ) -> None:
        if min(group_size, prompts_per_batch, batch_repeats, micro_steps_per_step) < 1:
            raise ValueError("group size, prompts per batch and repeats must be >= 1")
        self.curriculum = curriculum
        self.group_size, self.prompts_per_batch = group_size, prompts_per_batch
        self.batch_repeats, self.micro_steps_per_step = batch_repeats, micro_steps_per_step
        self.start_step = start_step
        self.batches = 0
        self.batches_per_pass = max(1, len(curriculum.bands) // prompts_per_batch)
        self.drawn: deque[tuple[int, list[int]]] = deque(maxlen=keep)

    def step_of(self, batch: int) -> int:
        """The optimiser step that batch number `batch` is trained at."""
        return self.start_step + batch * self.batch_repeats // self.micro_steps_per_step

    def next_batch(self) -> list[int]:
        """The distinct prompts of the next generation batch."""
        step = self.step_of(self.batches)
        prompts = [self.curriculum.draw(step) for _ in range(self.prompts_per_batch)]
        self.batches += 1
        self.drawn.append((step, prompts))
        return prompts

    def __iter__(self) -> Iterator[int]:
        for _ in range(self.batches_per_pass):
            prompts = self.next_batch()
            for _ in range(self.batch_repeats):
                for index in prompts:
                    yield from [index] * self.group_size

    def __len__(self) -> int:
        return self.batches_per_pass * self.batch_repeats * self.prompts_per_batch * self.group_size


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
    stream, as RepeatSampler's shared seed ensures), and replaces `_get_train_sampler`. An
    online policy also learns from `trainer.reward_funcs[feedback_reward]` at every optimiser
    step. Returns the sampler, whose `drawn` shows what training got.
    """
    import torch.utils.data
    from transformers import TrainerCallback

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
        passes = math.ceil(args.num_train_epochs)
        per_pass = max(1, len(bands) // layout["prompts_per_batch"])
        total = max(1, passes * per_pass * batch_repeats // args.gradient_accumulation_steps)
    policy = curriculum_policy(curriculum, bands, rates, total, target=target)
    grouped = GroupedCurriculum(CurriculumSampler(bands, policy, seed=args.seed), **layout)

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

        class _FeedCurriculum(TrainerCallback):  # type: ignore[misc,unused-ignore]
            """After each optimiser step, the step's per-band rewards, from every process."""

            def on_step_end(self, *args: Any, **kwargs: Any) -> None:
                pairs = feed.pairs()
                if trainer.accelerator.num_processes > 1:
                    from accelerate.utils import gather_object

                    pairs = gather_object(pairs)
                feed.flush(pairs)

        trainer.add_callback(_FeedCurriculum())
    return grouped
