"""Before a verl run with a curriculum: the sampler verl is given draws each step's batch from
the band the schedule names for that step.

    python examples/check_verl_curriculum.py data.train_files=... +data.sampler.class_path=... ...

Composes verl's `ppo_trainer` config with the overrides, reads the export with `RLHFDataset`
(`create_rl_dataset`), loads the class that `data.sampler.class_path` / `class_name` name with
verl's `load_extern_object` and builds it as older verls' `create_rl_sampler` did
(`cls(data_source=dataset, data_config=config.data)`), then iterates a `StatefulDataLoader`
built as `RayPPOTrainer` builds its training loader, printing each step's rows. With an online
curriculum, each step's batch goes back through the sampler's `update` hook as a `DataProto`
whose every response scored 1.0 (a scripted policy that passes everything), and the sampler's
band weights after it are printed. Needs verl and its data stack, no GPU.
"""

import sys

import torch
from hydra import compose, initialize_config_module
from torchdata.stateful_dataloader import StatefulDataLoader
from verl import DataProto
from verl.trainer.ppo.utils import create_rl_dataset
from verl.utils import hf_tokenizer
from verl.utils.dataset.rl_dataset import collate_fn
from verl.utils.import_utils import load_extern_object

with initialize_config_module("verl.trainer.config", version_base=None):
    config = compose("ppo_trainer", overrides=sys.argv[1:])
tokenizer = hf_tokenizer(config.actor_rollout_ref.model.path)
dataset = create_rl_dataset(config.data.train_files, config.data, tokenizer, None)
sampler_class = load_extern_object(config.data.sampler.class_path, config.data.sampler.class_name)
sampler = sampler_class(data_source=dataset, data_config=config.data)
loader = StatefulDataLoader(
    dataset,
    batch_size=config.data.get("gen_batch_size") or config.data.train_batch_size,
    drop_last=True,
    collate_fn=collate_fn,
    sampler=sampler,
)
print(f"sampler {type(sampler).__module__}.{type(sampler).__name__}, {len(loader)} steps")
for step, batch in enumerate(loader):
    for info in batch["extra_info"]:
        print(f"step {step}: {info['id']} {info['band']}")
    if callable(getattr(sampler.policy, "update", None)):
        proto = DataProto.from_single_dict(batch)
        scores = torch.zeros(len(proto), 4)
        scores[:, -1] = 1.0  # verl puts a response's score on its last token
        proto.batch["token_level_scores"] = scores
        rates = sampler.update(proto)
        weights = {b: round(w, 3) for b, w in sampler.policy.weights().items()}
        print(f"step {step}: update {rates} -> weights {weights}")
