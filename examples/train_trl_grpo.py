"""GRPO on a stepstones export with TRL: the export's prompts, stepstones' sandboxed reward,
drawn by a curriculum that follows the training step.

    python examples/train_trl_grpo.py DATA MODEL OUT [--max-steps N] [--curriculum C]
        [--save-steps K] [--resume CHECKPOINT] [--max-completion-length L]

DATA is a `stepstones export --format hf` folder, MODEL a Hugging Face checkpoint (a Hub id or
a local folder), OUT where TRL writes its state. C is a preset of `stepstones.tools.curricula`
(default `medium_start`: medium, then hard, then easy, the order the paper found best; also
`hard_to_easy`, `easy_to_hard`, `uniform`), `online` (keep the reward near 0.5 per band), or a
JSON file holding a `BandSchedule` table. `--save-steps K` writes OUT/checkpoint-K, -2K, ...;
`--resume OUT/checkpoint-K` goes on from one, the curriculum at step K. The settings are tiny
(three steps of two prompts, two completions of at most 128 tokens each) so the recipe runs on
a laptop CPU in about a minute and a half; scale them up for a real run.
"""

import argparse

from datasets import load_from_disk
from trl import GRPOConfig, GRPOTrainer

from stepstones.tools.curricula_trl import load_curriculum, use_curriculum
from stepstones.tools.reward import make_reward_fn

parser = argparse.ArgumentParser()
parser.add_argument("data")
parser.add_argument("model")
parser.add_argument("out")
parser.add_argument("--max-steps", type=int, default=3)
parser.add_argument("--curriculum", default="medium_start")
parser.add_argument("--save-steps", type=int, default=0)  # 0: no checkpoints
parser.add_argument("--resume", default=None)
parser.add_argument("--max-completion-length", type=int, default=128)
args = parser.parse_args()

dataset = load_from_disk(args.data)["train"]
config = GRPOConfig(
    output_dir=args.out,
    max_steps=args.max_steps,
    per_device_train_batch_size=4,
    num_generations=2,  # completions per prompt: GRPO's group
    max_completion_length=args.max_completion_length,
    temperature=0.7,
    use_cpu=True,
    logging_steps=1,
    save_strategy="steps" if args.save_steps else "no",
    save_steps=max(args.save_steps, 1),
    report_to="none",
)
trainer = GRPOTrainer(
    model=args.model,
    reward_funcs=make_reward_fn(partial_credit=True),  # fraction of the row's tests passed
    args=config,
    train_dataset=dataset,
)
use_curriculum(trainer, load_curriculum(args.curriculum))  # the prompts of each step, by band
trainer.train(resume_from_checkpoint=args.resume)
trainer.save_state()  # OUT/trainer_state.json: loss and reward per step
