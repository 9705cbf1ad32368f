"""The human and machine sides of an export's record: the dataset card (README.md) and
export.json, with counts per band, stage and environment and what was left out and why."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stepstones.tools.export import ExportResult


def summary(result: ExportResult) -> dict[str, Any]:
    """The machine-readable side of the card (`export.json`)."""
    reasons = Counter(e.reason for e in result.excluded)
    return {
        "run_id": result.run_id,
        "run_status": result.run_status,
        "partial": result.run_status != "finished",
        "format": result.format,
        "schedule": result.schedule,
        "rows": result.rows,
        "bands": result.bands,
        "stages": dict(result.stages),
        "environments": result.environments,
        "decontaminated": result.decontaminated,
        "keep_range": list(result.keep_range) if result.keep_range is not None else None,
        "excluded": {"out_of_range": reasons["out_of_range"],
                     "contaminated": reasons["contaminated"], "duplicate": reasons["duplicate"]},
        "exclusions": [e.__dict__ for e in result.excluded],
    }


_FIELDS = """\
| column | meaning |
|---|---|
| `prompt` | chat messages [{role, content}]: the student's task prompt of its environment |
| `data_source`, `ability` | `stepstones`, `code` (verl routes rewards by data_source) |
| `reward_model` | {style: rule, ground_truth: JSON: tests..time_limit_s, + environment..program} |
| `extra_info` | id, environment, index, title, band, pass_rate, pass_rates (JSON), family, ... |
| `id`, `environment` | content-hash id; code, induction, abduction, deduction or fuzzing |
| `title`, `statement` | the problem |
| `band`, `pass_rate` | difficulty band; mean pass rate over all student samples |
| `tests` | JSON list of {input, expected}, expected by execution; input a JSON argument array |
| `entry_point`, `io_style`, `time_limit_s` | how tests call a solution; CPU seconds per run |
| `spec`, `program` | environment JSON (e.g. pre_test); f where the judge runs it on an answer |
| `reference_solution` | the teacher's program (never in the prompt where the student writes it) |
| `curriculum_index`, `stage` | position in the schedule and its stage |
"""


def dataset_card(result: ExportResult) -> str:
    """The README.md written beside the data: fields, counts, exclusions and how it was made."""
    ext = {"jsonl": "train.jsonl", "parquet": "train.parquet", "hf": "train/*.arrow"}[result.format]
    reasons = Counter(e.reason for e in result.excluded)
    cfg = result.config
    students = ", ".join(map(str, cfg.get("students", []))) or "?"
    bands = "\n".join(f"| {name} | {n} |" for name, n in result.bands.items())
    envs = "\n".join(f"| {name} | {n} |" for name, n in result.environments.items())
    stages = "\n".join(f"| {k} | {name} | {n} |" for k, (name, n) in enumerate(result.stages))
    if result.keep_range is None:
        kept = "every pass rate (exported with --include-unbanded)"
    else:
        lo, hi = result.keep_range
        kept = (f"pass rates {lo:g} <= p <= {hi:g} only: {reasons['out_of_range']} problems "
                "outside it (nearly no or nearly every sample passed, no learning signal) stay "
                "in the bank, not here (`--include-unbanded` exports them)")
    left = (f"{reasons['out_of_range']} outside the keep range, {reasons['contaminated']} "
            f"contaminated, {reasons['duplicate']} near-duplicates")
    partial = ("" if result.run_status == "finished" else
               f"\n**Partial:** exported with --partial while the run was {result.run_status}; "
               "it may have banked more since.\n")
    decontam = (
        "HumanEval n-gram decontamination (13-word and normalised 10-token code n-grams)"
        if result.decontaminated
        else "**not decontaminated** (exported with --no-decontam)"
    )
    return f"""---
configs:
- config_name: default
  data_files:
  - split: train
    path: {ext}
tags: [code, reinforcement-learning, curriculum, stepstones]
---

# stepstones curriculum: run `{result.run_id}`
{partial}
{result.rows} Python coding problems with tests, a reference solution, a difficulty band from
measured student pass rates and their stepping-stone lineage, ordered by the
`{result.schedule}` schedule. Rows are in curriculum order; `curriculum_index` gives it too.
Each row names its environment; every environment's rows are scored by execution.

## How it was made

stepstones ran a teacher ({cfg.get("teacher", "?")}) that writes problems, a critic that runs
each reference against its tests and rejects weak, leaking or duplicate problems, and students
({students}; {cfg.get("samples", "?")} samples each) whose pass rates place every problem in a
band. Seed {cfg.get("seed", "?")}.
Exported with {kept}; {decontam}, then MinHash near-duplicate removal within the bank.

Left out: {left} (ids in `export.json`).

## Counts per band

| band | rows |
|---|---|
{bands}

## Counts per environment

| environment | rows |
|---|---|
{envs}

## Stages (`{result.schedule}`)

| # | stage | rows |
|---|---|---|
{stages}

## Fields

{_FIELDS}
## Use

verl: `data.train_files={ext.replace("/*.arrow", "")}` and
`custom_reward_function.path=<site-packages>/stepstones/tools/reward.py`,
`custom_reward_function.name=compute_score`. TRL: `GRPOTrainer(reward_funcs=reward_fn, ...)`
with `from stepstones.tools.reward import reward_fn`. Rewards run completions in the same
sandbox that measured the pass rates.
"""
