"""Curricula as samplers: which exported row a trainer draws next, as training progresses.

The export writes rows in one fixed order; the paper (arXiv 2603.24202, section 5) changes the
sampling weights per difficulty band with the RL step, and SCALER-style training keeps the
policy's pass rate near a target. Both are a band-weight policy read at the current step:

- `BandSchedule`: a table of RL step ranges -> band weights (`weights_at(step)`);
  `preset(name, total_steps)` builds the shipped ones (uniform, classic easy-to-hard, reverse
  hard-to-easy, medium-start);
- `PassRateController`: reads the policy's recent pass rate per band (`update`) and moves its
  weight along the easy -> hard axis until the expected pass rate meets `target`;
- `CurriculumSampler`: row indices drawn from either (a band by its weight, then a row of that
  band from a seeded shuffle), counting RL steps as it draws; `as_torch_sampler` wraps it for a
  `torch.utils.data.DataLoader` (TRL, verl) where torch is importable.

Pure Python: nothing here imports torch until `as_torch_sampler` is called.

The presets' numbers are ours, not the paper's: the paper's Tables 2 and 4 give step-indexed
weights, but the summary we work from (PAPER.md) does not reproduce their values. Each preset
translates one named ordering into equal step ranges with all weight on one band per range; a
table transcribed from the paper loads with `BandSchedule.model_validate(...)`.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from stepstones.tools.schedule import UNBANDED, medium_first_order

PresetName = Literal["uniform", "easy_to_hard", "hard_to_easy", "medium_start"]
PRESETS: tuple[PresetName, ...] = ("uniform", "easy_to_hard", "hard_to_easy", "medium_start")
DEFAULT_BANDS = ("easy", "medium", "hard")
"""stepstones' default bands, easiest first (graphs/bands.py)."""


class BandWeights(Protocol):
    """Anything that says, at an RL step, how much each band should be sampled.

    None means uniform over rows (a band weighs as many rows as it has).
    """

    def weights_at(self, step: int) -> Mapping[str, float] | None: ...


class Phase(BaseModel):
    """One row of a schedule table: from RL step `start` on, sample bands in these weights."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    start: int = Field(ge=0)
    weights: dict[str, float] | None = None
    """Band -> weight (any scale, normalised when read); None: uniform over rows."""

    @field_validator("weights")
    @classmethod
    def _non_negative(cls, v: dict[str, float] | None) -> dict[str, float] | None:
        if v is not None and (any(w < 0 for w in v.values()) or sum(v.values()) <= 0):
            raise ValueError("band weights must be >= 0 with a positive sum")
        return v


class BandSchedule(BaseModel):
    """RL step ranges -> band weights: phase k covers steps [start_k, start_k+1); the last
    phase holds to the end of training."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    phases: list[Phase] = Field(min_length=1)
    source: str = ""
    """Where the numbers come from (a preset says they are ours)."""

    @model_validator(mode="after")
    def _ordered(self) -> BandSchedule:
        starts = [p.start for p in self.phases]
        if starts[0] != 0 or starts != sorted(set(starts)):
            raise ValueError(f"phase starts must begin at 0 and increase: {starts}")
        return self

    def phase_at(self, step: int) -> Phase:
        """The phase in force at `step` (the last one beyond the table)."""
        current = self.phases[0]
        for phase in self.phases:
            if phase.start > step:
                break
            current = phase
        return current

    def weights_at(self, step: int) -> dict[str, float] | None:
        """Normalised band weights at `step`; None: uniform over rows."""
        weights = self.phase_at(step).weights
        if weights is None:
            return None
        total = sum(weights.values())
        return {b: w / total for b, w in weights.items()}

    def table(self) -> list[tuple[int, int | None, dict[str, float] | None]]:
        """The schedule as rows (first step, last step or None, weights), e.g. for a card."""
        ends: list[int | None] = [p.start - 1 for p in self.phases[1:]]
        return [(p.start, end, self.weights_at(p.start))
                for p, end in zip(self.phases, [*ends, None], strict=True)]  # fmt: skip


PRESET_SOURCE = (
    "ours: the paper (arXiv 2603.24202) gives step-indexed weights in its Tables 2 and 4; "
    "their values are not in the summary we work from, so this preset spends equal step "
    "ranges on one band each, in the order its name says"
)


def preset(
    name: PresetName, total_steps: int, bands: Sequence[str] = DEFAULT_BANDS
) -> BandSchedule:
    """A shipped schedule over `total_steps` RL steps, `bands` given easiest first.

    uniform: every row alike throughout. easy_to_hard (the classic curriculum), hard_to_easy
    (reverse) and medium_start (medium, then harder, then easier: `medium_first_order`) split
    the steps into one equal range per band, all weight on that band. The numbers are ours
    (see PRESET_SOURCE), not the paper's.
    """
    if total_steps < 1:
        raise ValueError("total_steps must be >= 1")
    if name == "uniform":
        return BandSchedule(name=name, phases=[Phase(start=0)], source="no curriculum")
    names = [b for b in bands if b != UNBANDED]
    if not names:
        raise ValueError("a staged preset needs at least one band")
    if name == "easy_to_hard":
        order = names
    elif name == "hard_to_easy":
        order = list(reversed(names))
    elif name == "medium_start":
        order = medium_first_order(names)
    else:
        raise ValueError(f"unknown preset {name!r}; choose from {', '.join(PRESETS)}")
    if total_steps < len(order):
        raise ValueError(f"{name} needs at least {len(order)} steps, one range per band")
    phases = [Phase(start=k * total_steps // len(order), weights={band: 1.0})
              for k, band in enumerate(order)]  # fmt: skip
    return BandSchedule(name=name, phases=phases, source=PRESET_SOURCE)


class PassRateController:
    """Keeps the policy's expected pass rate near `target` by moving weight between bands.

    Bands sit on an axis from easiest (0) to hardest (n - 1); the weights are a Gaussian bump
    of `width` bands around `level`, with at least `floor` of the mass spread over every band
    so none is forgotten. `update(pass_rates)` folds the policy's recent per-band pass rates into
    a moving average, computes the pass rate the current weights would give, and moves `level`
    by `gain` x (expected - target): passing too often pushes sampling harder, too rarely
    easier. Bands never observed use `prior` (e.g. the export's measured pass rates). This is a
    proportional controller in the spirit of SCALER's, not a copy of it.
    """

    def __init__(
        self,
        bands: Sequence[str],
        *,
        target: float = 0.5,
        prior: Mapping[str, float] | None = None,
        gain: float = 2.0,
        width: float = 0.75,
        floor: float = 0.05,
        smoothing: float = 0.5,
        level: float | None = None,
    ) -> None:
        if not bands:
            raise ValueError("the controller needs at least one band")
        if not 0.0 <= target <= 1.0 or not 0.0 <= floor < 1.0 or not 0.0 < smoothing <= 1.0:
            raise ValueError("need 0 <= target <= 1, 0 <= floor < 1, 0 < smoothing <= 1")
        self.bands = list(bands)
        self.target, self.gain, self.width = target, gain, width
        self.floor, self.smoothing = floor, smoothing
        self.pass_rates: dict[str, float] = {b: v for b, v in (prior or {}).items()
                                             if b in self.bands}  # fmt: skip
        if level is None:  # start at the band whose known pass rate is nearest the target
            known = [(abs(self.pass_rates[b] - target), i) for i, b in enumerate(self.bands)
                     if b in self.pass_rates]  # fmt: skip
            level = float(min(known)[1]) if known else (len(self.bands) - 1) / 2
        self.level = level

    def weights(self) -> dict[str, float]:
        """Band -> sampling weight now (sums to 1)."""
        bump = [math.exp(-((i - self.level) ** 2) / (2 * self.width**2))
                for i in range(len(self.bands))]  # fmt: skip
        total = sum(bump)
        n = len(self.bands)
        return {b: (1 - self.floor) * w / total + self.floor / n
                for b, w in zip(self.bands, bump, strict=True)}  # fmt: skip

    def weights_at(self, step: int) -> dict[str, float]:
        """The weights now (the step is the feedback's, not the clock's)."""
        return self.weights()

    def expected_pass_rate(self) -> float | None:
        """The pass rate sampling at the current weights would give; None before any data."""
        w = self.weights()
        seen = [b for b in self.bands if b in self.pass_rates]
        if not seen:
            return None
        mass = sum(w[b] for b in seen)
        return sum(w[b] * self.pass_rates[b] for b in seen) / mass

    def state(self) -> dict[str, Any]:
        """What `update` has learnt (the level and the pass-rate averages), as plain JSON."""
        return {"level": self.level, "pass_rates": dict(self.pass_rates)}

    def load_state(self, state: Mapping[str, Any]) -> None:
        """Take up a `state()` again (a resumed run), ignoring bands this controller lacks."""
        self.level = min(max(float(state["level"]), 0.0), len(self.bands) - 1.0)
        self.pass_rates = {b: float(r) for b, r in state["pass_rates"].items() if b in self.bands}

    def update(self, pass_rates: Mapping[str, float]) -> None:
        """Fold in recent per-band pass rates (bands not listed keep theirs), then steer."""
        for band, rate in pass_rates.items():
            if band not in self.bands:
                continue
            old = self.pass_rates.get(band)
            self.pass_rates[band] = rate if old is None else (
                self.smoothing * rate + (1 - self.smoothing) * old)  # fmt: skip
        expected = self.expected_pass_rate()
        if expected is not None:
            step = self.gain * (expected - self.target)
            self.level = min(max(self.level + step, 0.0), len(self.bands) - 1.0)


class CurriculumSampler:
    """Row indices for a trainer, drawn by band weights that follow the RL step.

    `bands[i]` is row i's band (the export's `band` column; None is `unbanded`). Each draw picks
    a band by `policy.weights_at(step)` (restricted to bands that have rows; None: uniform over
    rows), then the next row of that band's seeded shuffle, reshuffled when used up. `step` is
    `start_step + draws // rows_per_step`: with `rows_per_step` = the rows a trainer consumes
    per optimiser step, the schedule advances with training. The same seed and the same calls
    give the same indices. One pass yields `num_samples` indices (default: one per row).
    """

    def __init__(
        self,
        bands: Sequence[str | None],
        policy: BandWeights,
        *,
        rows_per_step: int = 1,
        num_samples: int | None = None,
        seed: int = 0,
        start_step: int = 0,
    ) -> None:
        if rows_per_step < 1:
            raise ValueError("rows_per_step must be >= 1")
        self.bands = [b or UNBANDED for b in bands]
        if not self.bands:
            raise ValueError("no rows to sample")
        self.policy = policy
        self.rows_per_step = rows_per_step
        self.num_samples = len(self.bands) if num_samples is None else num_samples
        self.start_step = start_step
        self.seed = seed
        self.draws = 0
        self._rng = random.Random(seed)
        self._rows: dict[str, list[int]] = defaultdict(list)
        for i, band in enumerate(self.bands):
            self._rows[band].append(i)
        self._queues: dict[str, list[int]] = {}

    def reset(self) -> None:
        """Back to the first draw: the same seed, no draws counted, every band unshuffled."""
        self.draws = 0
        self._rng = random.Random(self.seed)
        self._queues.clear()

    @property
    def step(self) -> int:
        """The RL step the next draw belongs to."""
        return self.start_step + self.draws // self.rows_per_step

    def weights(self, step: int | None = None) -> dict[str, float]:
        """Band -> probability of a draw at `step` (default: the next draw's), over bands that
        have rows."""
        step = self.step if step is None else step
        raw = self.policy.weights_at(step)
        if raw is None:
            return {b: len(rows) / len(self.bands) for b, rows in self._rows.items()}
        present = {b: w for b, w in raw.items() if b in self._rows and w > 0}
        total = sum(present.values())
        if total <= 0:
            raise ValueError(
                f"at step {step} the curriculum weighs only bands with no rows "
                f"({', '.join(sorted(raw))}; rows have {', '.join(sorted(self._rows))})"
            )
        return {b: w / total for b, w in present.items()}

    def draw(self, step: int | None = None) -> int:
        """One row index, advancing the draw counter; `step` overrides the counter's step for a
        caller that knows the trainer's (a GRPO batch spans several optimiser steps)."""
        weights = self.weights(step)
        names = sorted(weights)
        band = self._rng.choices(names, weights=[weights[b] for b in names])[0]
        queue = self._queues.get(band)
        if not queue:
            queue = list(self._rows[band])
            self._rng.shuffle(queue)
            self._queues[band] = queue
        self.draws += 1
        return queue.pop()

    def observe(self, indices: Sequence[int], rewards: Sequence[float]) -> dict[str, float]:
        """Feed rewards of drawn rows back (mean per band) to a policy that learns from them;
        returns those per-band pass rates. A fixed schedule ignores them."""
        if len(indices) != len(rewards):
            raise ValueError(f"{len(indices)} indices but {len(rewards)} rewards")
        sums: dict[str, list[float]] = defaultdict(list)
        for i, r in zip(indices, rewards, strict=True):
            sums[self.bands[i]].append(float(r))
        rates = {b: sum(v) / len(v) for b, v in sums.items()}
        update = getattr(self.policy, "update", None)
        if callable(update):
            update(rates)
        return rates

    def __iter__(self) -> Iterator[int]:
        for _ in range(self.num_samples):
            yield self.draw()

    def __len__(self) -> int:
        return self.num_samples


def band_prior(bands: Sequence[str | None], pass_rates: Sequence[float | None]) -> dict[str, float]:
    """Mean measured pass rate per band (the export's `band` and `pass_rate` columns)."""
    rates: dict[str, list[float]] = defaultdict(list)
    for band, rate in zip(bands, pass_rates, strict=True):
        if rate is not None:
            rates[band or UNBANDED].append(rate)
    return {b: sum(v) / len(v) for b, v in rates.items()}


def bands_easiest_first(prior: Mapping[str, float]) -> list[str]:
    """Band names from the highest mean pass rate to the lowest (the controller's axis)."""
    return sorted(prior, key=lambda b: (-prior[b], b))


def as_torch_sampler(sampler: CurriculumSampler, *, repeat: int = 1) -> Any:
    """`sampler` as a `torch.utils.data.Sampler`, each index yielded `repeat` times in a row.

    TRL's GRPOTrainer wants each prompt `num_generations` times consecutively (its own
    RepeatSampler does that), so pass `repeat=num_generations` there. Imports torch only now.
    """
    from torch.utils.data import Sampler

    class _TorchCurriculumSampler(Sampler[int]):  # type: ignore[misc,unused-ignore]
        """A torch view of a CurriculumSampler (the curriculum object stays reachable)."""

        def __init__(self) -> None:
            self.curriculum = sampler

        def __iter__(self) -> Iterator[int]:
            for index in sampler:
                for _ in range(repeat):
                    yield index

        def __len__(self) -> int:
            return len(sampler) * repeat

    return _TorchCurriculumSampler()
