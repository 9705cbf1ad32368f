"""A curriculum as verl's training sampler: which exported rows each RL step's batch holds.

verl's PPO/GRPO trainer reads one batch of `data.train_batch_size` prompts (or
`data.gen_batch_size`) per step from a `StatefulDataLoader` over `RLHFDataset`, with the sampler
it is given. verl 0.9.1's `create_rl_sampler` builds only a random or a sequential one (no
custom-class setting); its trainer takes any sampler as `RayPPOTrainer(train_sampler=...)`,
which is how a launcher uses this class. Earlier verls built a custom sampler from
`data.sampler.class_path` / `class_name` as `cls(data_source=dataset, data_config=config.data)`
and called `update(batch)` after each step on a curriculum sampler; this class keeps that
constructor and that hook, so it loads through either.

Settings come from `data.sampler` (verl's config, e.g. `+data.sampler.curriculum=medium_start`):
`curriculum` (a preset of `stepstones.tools.curricula`, `online`, default `medium_start`),
`total_steps` (the preset's span; default: one pass over the rows) and `target` (online).
Bands and measured pass rates are read from each row's `extra_info`, as the export writes it.
Imports torch; verl only for the types it is handed.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sized
from typing import Any

from torch.utils.data import Sampler

from stepstones.tools.curricula import CurriculumSampler
from stepstones.tools.curricula_trl import RewardFeed, curriculum_policy


def _rows_info(data_source: Any) -> list[Mapping[str, Any]]:
    """Each row's `extra_info` (an RLHFDataset keeps its rows in `dataframe`)."""
    frame = getattr(data_source, "dataframe", data_source)
    return [info or {} for info in frame["extra_info"]]


class VerlCurriculumSampler(Sampler[int]):  # type: ignore[misc,unused-ignore]
    """Row indices for verl's data loader, by band weights that follow the RL step.

    One RL step is `data.gen_batch_size or data.train_batch_size` rows (verl repeats each
    prompt `rollout.n` times after loading), so the step is counted from rows drawn. One pass
    yields one index per row; the count carries over between epochs. `update(batch)` (the
    hook older verls call after each step) feeds the batch's per-band mean reward to an online
    policy; a fixed schedule ignores it.
    """

    def __init__(self, data_source: Sized, data_config: Any) -> None:
        settings: Mapping[str, Any] = data_config.get("sampler") or {}
        info = _rows_info(data_source)
        bands = [i.get("band") for i in info]
        rates = [i.get("pass_rate") for i in info]
        per_step = int(data_config.get("gen_batch_size") or data_config.get("train_batch_size"))
        total = int(settings.get("total_steps") or max(1, len(bands) // per_step))
        self.policy = curriculum_policy(
            str(settings.get("curriculum") or "medium_start"),
            bands,
            rates,
            total,
            target=float(settings.get("target", 0.5)),
        )
        seed = data_config.get("seed")
        self.curriculum = CurriculumSampler(
            bands, self.policy, rows_per_step=per_step, seed=0 if seed is None else int(seed)
        )
        self.feed = RewardFeed(self.policy)

    def __iter__(self) -> Iterator[int]:
        return iter(self.curriculum)

    def __len__(self) -> int:
        return len(self.curriculum)

    def update(self, batch: Any) -> dict[str, float]:
        """Per-band mean reward of a trained `DataProto` batch (sequence score: the sum of
        `token_level_scores`), fed to the policy; returns those means."""
        scores = batch.batch["token_level_scores"].sum(-1).tolist()
        bands = [(i or {}).get("band") for i in batch.non_tensor_batch["extra_info"]]
        self.feed.record(bands, scores)
        return self.feed.flush()
