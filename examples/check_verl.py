"""Before a verl run: read a stepstones export with verl's own data pipeline and score answers
through the reward manager verl builds, from the same overrides you give verl's trainer.

    python examples/check_verl.py data.train_files=... reward.custom_reward_function.path=... ...

verl composes its `ppo_trainer` config with the overrides, then `RLHFDataset` (with its
sampler and collate function) reads the Parquet file and `load_reward_manager` loads the
custom reward function. For every code or induction row, the row's reference solution must
score 1.0 and a stub that returns None 0.0. Needs verl and its data stack, no GPU.
"""

import sys

import torch
from hydra import compose, initialize_config_module
from torchdata.stateful_dataloader import StatefulDataLoader
from verl import DataProto
from verl.trainer.ppo.reward import load_reward_manager
from verl.trainer.ppo.utils import create_rl_dataset, create_rl_sampler
from verl.utils import hf_tokenizer
from verl.utils.dataset.rl_dataset import collate_fn

with initialize_config_module("verl.trainer.config", version_base=None):
    config = compose("ppo_trainer", overrides=sys.argv[1:])
tokenizer = hf_tokenizer(config.actor_rollout_ref.model.path)
dataset = create_rl_dataset(config.data.train_files, config.data, tokenizer, None)
loader = StatefulDataLoader(
    dataset, batch_size=1, collate_fn=collate_fn, sampler=create_rl_sampler(config.data, dataset)
)
manager = load_reward_manager(config, tokenizer)


def reward(row, answer):
    """The reward verl's manager gives `answer` as the response to `row`'s prompt."""
    prompt = tokenizer.apply_chat_template(
        row.non_tensor_batch["raw_prompt"][0], add_generation_prompt=True, tokenize=False
    )
    prompt_ids = tokenizer(prompt, add_special_tokens=False, return_tensors="pt").input_ids
    response_ids = tokenizer(answer, add_special_tokens=False, return_tensors="pt").input_ids
    length = prompt_ids.shape[1] + response_ids.shape[1]
    tensors = {
        "prompts": prompt_ids,
        "responses": response_ids,
        "attention_mask": torch.ones(1, length, dtype=torch.long),
    }
    item = DataProto.from_dict(tensors=tensors, non_tensors=row.non_tensor_batch)
    return manager.loop.run_until_complete(manager.run_single(item))["reward_score"]


failed = checked = 0
for batch in loader:
    row = DataProto.from_single_dict(batch)
    info = row.non_tensor_batch["extra_info"][0]
    if info["environment"] not in ("code", "induction"):
        continue  # the reference of these is the program the prompt shows, not an answer
    entry = row.non_tensor_batch["entry_point"][0]
    right = reward(row, f"```python\n{row.non_tensor_batch['reference_solution'][0]}```")
    wrong = reward(row, f"```python\ndef {entry}(*args):\n    return None\n```")
    checked += 1
    failed += (right, wrong) != (1.0, 0.0)
    print(f"{info['id']} {info['band']}: reference {right}, stub {wrong}")
print(f"{checked} rows checked through {type(manager).__name__}, {failed} failed")
sys.exit(1 if failed or not checked else 0)
