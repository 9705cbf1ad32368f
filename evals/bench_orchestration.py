"""The graph's own overhead per problem-turn, with instant models and recorded sandbox verdicts.

Everything a real run does on the host is kept: LLM agents behind LangChain chat models (the
teacher's JSON parsed into a draft, students' code extracted), the critic's rubric (mutants,
trivial solutions, MinHash dedup, HumanEval decontamination), summaries, band routing, bank
writes in SQLite and a LangGraph checkpointer. Only the model calls (an instant chat model that
formats a varied draft) and the sandbox (verdicts replayed from a table: the reference passes,
anything else fails) are free, so the figure is what stepstones adds on top of inference and
execution.

    python -m stepstones.evals.bench_orchestration [--turns 300] [--concurrency 8]
        [--checkpoints turn|step|both] [--latency-s 0]

`--latency-s T` makes every model call wait T seconds (the teacher's 2T) before it answers,
to see the overhead next to realistic model time instead of alone.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import random
import statistics
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.memory import InMemorySaver
from pydantic import Field

from stepstones.agents.models import ModelSettings
from stepstones.agents.student import LLMStudent, Student
from stepstones.agents.teacher import LLMTeacher
from stepstones.graphs.bands import Band
from stepstones.graphs.components import ComponentResolver
from stepstones.graphs.context import Budget, CriticConfig, RunContext, SeedConfig
from stepstones.graphs.curriculum import build_graph
from stepstones.reporting.machine import machine_line
from stepstones.runner import sqlite_checkpointer
from stepstones.tools.sandbox.base import Submission
from stepstones.tools.schema import TestOutcome, Verdict
from stepstones.tools.store import Bank


class InstantTeacherModel(BaseChatModel):
    """Replies at once with a valid, always different problem draft (a distinct task each)."""

    calls: int = 0
    latency_s: float = 0.0
    references: dict[str, int] = Field(default_factory=dict)
    """Reference solutions written so far and their offsets: the recorded sandbox passes
    exactly these, and computes their gold outputs (sum of x + offset) as running them would."""

    @property
    def _llm_type(self) -> str:
        return "instant-teacher"

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any
    ) -> ChatResult:
        self.calls += 1
        n = self.calls
        rng = random.Random(n)  # distinct made-up words: drafts must not be near-duplicates
        words = [
            "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(7)) for _ in range(12)
        ]
        offset = n % 97
        draft = {
            "title": f"Task {n}",
            "statement": (
                f"Problem {n} about {' '.join(words)}: given a list of integers xs, "
                f"return the sum of the elements each increased by {offset}. "
                f"Function solve(xs) -> int. Variant code {n * 7919 % 10007}."
            ),
            "entry_point": "solve",
            "inputs": [[xs] for xs in ([1, 2], [], [5], [3, 4, 5], [-1, 7], [n, n])],
            "reference_solution": (
                f"def solve(xs):\n    total = 0\n    for x in xs:\n"
                f"        total += x + {offset}\n    return total\n"
                f"# {' '.join(words)} {n}\n"
            ),
        }
        self.references[str(draft["reference_solution"]).strip()] = offset
        return ChatResult(generations=[ChatGeneration(message=AIMessage(json.dumps(draft)))])

    async def _agenerate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any
    ) -> ChatResult:
        # Natively async, like the provider clients (ChatOpenAI on httpx): without it LangChain
        # runs _generate in a worker thread, a hop per call that real clients do not make.
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        return self._generate(messages, stop, **kwargs)


class InstantStudentModel(BaseChatModel):
    """Replies at once with a fixed wrong solution in a code fence; `n` choices when asked for
    them, like vLLM (the students' settings decide whether they ask)."""

    latency_s: float = 0.0

    @property
    def _llm_type(self) -> str:
        return "instant-student"

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any
    ) -> ChatResult:
        reply = "```python\ndef solve(xs):\n    return len(xs)\n```"
        n = int(kwargs.get("n") or 1)
        return ChatResult(generations=[ChatGeneration(message=AIMessage(reply)) for _ in range(n)])

    async def _agenerate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any
    ) -> ChatResult:
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        return self._generate(messages, stop, **kwargs)  # natively async: see the teacher's


class GCTimer:
    """Time spent in Python's garbage collector while `timing()` is open (via gc.callbacks)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._started = 0.0

    def _callback(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._started

    @contextmanager
    def timing(self) -> Iterator[None]:
        gc.callbacks.append(self._callback)
        try:
            yield
        finally:
            gc.callbacks.remove(self._callback)


class RecordedSandbox:
    """Replays verdicts: a submission whose code is a problem's reference passes, others fail.

    Stands in for execution only; the graph, critic and judge bookkeeping around it all run.
    """

    name = "recorded"
    isolation = "none (recorded verdicts: benchmark only)"

    def __init__(self, references: dict[str, int]) -> None:
        self.references = references
        self.calls = 0

    async def run(self, submissions: Sequence[Submission]) -> list[Verdict]:
        self.calls += len(submissions)
        out = []
        for sub in submissions:
            offset = self.references.get(sub.code.strip())
            if sub.record_outputs and offset is not None:  # a gold run of a reference
                tests = [
                    TestOutcome(
                        index=i,
                        status="passed",
                        cpu_s=0.0001,
                        output=json.dumps(sum(x + offset for x in json.loads(t.input)[0])),
                    )
                    for i, t in enumerate(sub.tests)
                ]
                out.append(
                    Verdict(
                        status="passed",
                        passed=len(tests),
                        total=len(tests),
                        tests=tests,
                        isolation=self.isolation,
                        limits=sub.limits,
                    )
                )
                continue
            ok = offset is not None
            status = "passed" if ok else "wrong_answer"
            tests = [
                TestOutcome(
                    index=i,
                    status=status,
                    output=t.expected if ok else "0",
                    expected=t.expected,
                    cpu_s=0.0001,
                )
                for i, t in enumerate(sub.tests)
            ]
            out.append(
                Verdict(
                    status=status,
                    passed=len(tests) if ok else 0,
                    total=len(tests),
                    tests=tests,
                    isolation=self.isolation,
                    limits=sub.limits,
                    cpu_s=0.001,
                    wall_s=0.001,
                )
            )
        return out

    async def aclose(self) -> None:
        return None


async def measure(
    turns: int,
    concurrency: int,
    checkpointer: str,
    workdir: Path,
    n_native: bool = False,
    checkpoints: Literal["turn", "step"] = "turn",
    latency_s: float = 0.0,
) -> dict[str, Any]:
    """Run the graph for `turns` teacher turns and time it.

    `n_native`: students get their k samples from one request with `n` (vLLM's way), not k
    requests (llama.cpp's server, unknown OpenAI-compatible servers). Like the runner, the
    components are built first. `checkpoints` is the context's setting: turns
    checkpointed when they pause or fail (the default), or after every node inside them.
    `latency_s`: each model call waits this long first (the teacher's twice as long).
    """
    teacher_model = InstantTeacherModel(latency_s=2 * latency_s)
    settings = ModelSettings(n_native=n_native)
    students: list[Student] = [
        LLMStudent(f"instant-{i}", InstantStudentModel(latency_s=latency_s), settings)
        for i in range(2)
    ]
    ctx = RunContext(
        bank=str(workdir / f"bank-{checkpointer}-{n_native}-{checkpoints}.sqlite"),
        samples=4,
        concurrency=concurrency,
        checkpoints=checkpoints,
        seeds=SeedConfig(source="puzzles"),
        critic=CriticConfig(decontaminate=True),
        budget=Budget(max_turns_per_seed=turns, max_teacher_calls=turns, max_wall_s=None),
        bands=[Band(name="all", lo=0.0, hi=1.0, quota=10 * turns)],
    )
    bank = Bank(ctx.bank)
    sandbox = RecordedSandbox(teacher_model.references)
    config: RunnableConfig = {
        "configurable": {"thread_id": checkpointer},
        "recursion_limit": 100_000,
        "max_concurrency": concurrency * 4,
    }

    resolver = ComponentResolver(
        teacher=LLMTeacher("instant", teacher_model), students=students, sandbox=sandbox, bank=bank
    )
    await resolver.get(ctx)  # as run_pipeline does, before the run starts
    collector = GCTimer()

    async def go(saver: Any) -> tuple[float, float]:
        """(wall seconds, CPU seconds of this process): CPU time is what the work costs."""
        graph = build_graph(checkpointer=saver, resolver=resolver)
        with collector.timing():
            start, cpu = time.perf_counter(), time.process_time()
            # As run_pipeline streams a run: each step saved before the next (runner._stream).
            await graph.ainvoke({"run_id": "bench"}, config, context=ctx, durability="sync")
            return time.perf_counter() - start, time.process_time() - cpu

    stored = 0
    if checkpointer == "sqlite":
        path = workdir / f"checkpoints-{n_native}-{checkpoints}.sqlite"
        async with sqlite_checkpointer(path) as saver:
            elapsed, cpu_s = await go(saver)
        stored = path.stat().st_size  # the log is folded into the file when it closes
    else:
        elapsed, cpu_s = await go(InMemorySaver())
    done = len(bank.turns("bench"))
    bank.close()
    return {
        "checkpointer": checkpointer,
        "n_native": n_native,
        "checkpoints": checkpoints,
        "turns": done,
        "checkpoint_kb_per_turn": round(stored / 1024 / max(done, 1), 1),
        "teacher_calls": teacher_model.calls,
        "sandbox_runs": sandbox.calls,
        "seconds": round(elapsed, 3),
        "gc_ms_per_turn": round(1000 * collector.seconds / max(done, 1), 2),
        "ms_per_turn": round(1000 * elapsed / max(done, 1), 2),
        "cpu_ms_per_turn": round(1000 * cpu_s / max(done, 1), 2),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=300, help="teacher turns to run")
    parser.add_argument("--concurrency", type=int, default=8, help="lineages in flight")
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="runs per setting; the median and the best are printed",
    )
    parser.add_argument(
        "--checkpoints",
        choices=["turn", "step", "both"],
        default="both",
        help="the context's `checkpoints`: a turn's inner steps checkpointed "
        "only when it pauses or fails (turn, the default) or after every "
        "node (step); both: measure each",
    )
    parser.add_argument(
        "--latency-s",
        type=float,
        default=0.0,
        help="seconds each model call waits before answering (teacher: twice)",
    )
    args = parser.parse_args(argv)
    print(f"machine: {machine_line()}")
    print(f"model latency: students {args.latency_s} s, teacher {2 * args.latency_s} s per call")
    modes: list[Literal["turn", "step"]] = (
        ["turn", "step"] if args.checkpoints == "both" else [args.checkpoints]
    )
    settings = [
        (n_native, saver, mode)
        for n_native in (True, False)
        for saver in ("memory", "sqlite")
        for mode in modes
    ]
    # Interleaved (every setting once, then again) so that the VM's drift hits all alike.
    runs: dict[tuple[bool, str, str], list[dict[str, Any]]] = {s: [] for s in settings}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeat):
            for n_native, saver, mode in settings:
                runs[n_native, saver, mode].append(
                    asyncio.run(
                        measure(
                            args.turns,
                            args.concurrency,
                            saver,
                            Path(tmp) / f"{n_native}-{saver}-{mode}-{i}",
                            n_native,
                            mode,
                            args.latency_s,
                        )
                    )
                )
    for n_native, saver, mode in settings:
        done = runs[n_native, saver, mode]
        if done[0]["turns"] < args.turns:
            raise SystemExit(f"only {done[0]['turns']} of {args.turns} turns ran")
        ms = sorted(r["ms_per_turn"] for r in done)
        cpu = statistics.median(r["cpu_ms_per_turn"] for r in done)
        in_gc = statistics.median(r["gc_ms_per_turn"] for r in done)
        calls = "1 call per student (n)" if n_native else "1 call per sample"
        print(
            f"checkpointer={saver:<6} checkpoints={mode:<4} students: {calls:<23} "
            f"turns={done[0]['turns']:>4} x{args.repeat} "
            f"verdicts/run={done[0]['sandbox_runs']:>5} overhead/turn: "
            f"median {statistics.median(ms):>6.2f} ms, best {ms[0]:>6.2f} ms "
            f"(CPU {cpu:>5.2f} ms, in gc {in_gc:.2f} ms; target <= 10 ms)"
            + (
                f"; checkpoints {done[0]['checkpoint_kb_per_turn']} KB/turn"
                if saver == "sqlite"
                else ""
            )
        )


if __name__ == "__main__":
    main()
