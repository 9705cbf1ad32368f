"""Benchmark: sampling throughput through the real client path against a slow endpoint.

An OpenAI-compatible stand-in server (evals/openai_standin.py, in its own process) answers every
request after a fixed latency (1 s by default), so the ideal throughput with C requests in flight
is C / latency requests per second. The bound is `ModelSettings.max_concurrency` per endpoint;
everything in between (sample(), ChatOpenAI, the openai SDK, httpx, retries, the semaphore) is
what is measured. Two modes:

- `concurrent`: the server ignores `n` (like llama.cpp), so every sample is one request;
- `n`: the server honours `n` (like vLLM), so each sample() call is one request of k choices.

    python -m stepstones.evals.bench_concurrency --latency 1 --concurrency 32 --requests 256

Prints one line per mode and round plus the machine; the target is >= 90% of ideal.
`--embedded` instead measures the embedded model (SmolLM2-135M via llama.cpp, in process):
load time and generated tokens per second, one call at a time and k samples of one prompt.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import statistics
import subprocess
import time
from dataclasses import dataclass

from langchain_core.messages import HumanMessage, SystemMessage

from stepstones.agents.models import ModelSettings, get_chat_model
from stepstones.agents.preflight import ping
from stepstones.agents.sampling import sample
from stepstones.evals.openai_standin import read_stats, spawn
from stepstones.reporting.machine import machine_line


@dataclass
class Round:
    """One timed round of one mode."""

    mode: str
    requests: int
    samples: int
    errors: int
    wall_s: float
    ideal_s: float
    max_in_flight: int

    @property
    def efficiency(self) -> float:
        """Ideal wall time over measured wall time (1.0 = no overhead at all)."""
        return self.ideal_s / self.wall_s


def _stats(base: str, reset: bool = False) -> dict[str, int]:
    return {k: int(v) for k, v in read_stats(base, reset).items()}


def start_server(latency_s: float, honour_n: bool) -> tuple[subprocess.Popen[bytes], str]:
    """The stand-in server in a child process (so it does not share this process's GIL)."""
    return spawn(["--latency", str(latency_s), *([] if honour_n else ["--ignore-n"])], timeout_s=20)


async def run_round(
    mode: str, base: str, latency_s: float, concurrency: int, requests: int, k: int
) -> Round:
    """`requests` requests through sample(), `concurrency` at most in flight."""
    settings = ModelSettings(
        max_concurrency=concurrency,
        n_native=(mode == "n"),
        max_tokens=64,
        timeout_s=max(30.0, 10 * latency_s),
    )
    model = get_chat_model(f"vllm:standin@{base}/v1", settings)
    messages = [SystemMessage("You write Python."), HumanMessage("Write solve(x).")]
    key = f"bench-{mode}-{time.monotonic_ns()}"
    await sample(model, messages, 1, settings=settings, key=key)  # connect, import, warm up
    _stats(base, reset=True)
    per_call = 1 if mode == "concurrent" else k
    start = time.perf_counter()
    batches = await asyncio.gather(
        *(sample(model, messages, per_call, settings=settings, key=key) for _ in range(requests))
    )
    wall = time.perf_counter() - start
    stats = _stats(base, reset=True)
    got = [s for b in batches for s in b]
    return Round(
        mode=mode,
        requests=stats["requests"],
        samples=len(got),
        errors=sum(s.error is not None for s in got),
        wall_s=wall,
        ideal_s=math.ceil(requests / concurrency) * latency_s,
        max_in_flight=stats["max_in_flight"],
    )


async def bench_embedded(k: int, max_tokens: int) -> None:
    """Load time and tokens/s of the embedded model on this machine's CPU."""
    from stepstones.agents.embedded import LlamaCppChatModel

    settings = ModelSettings(max_tokens=max_tokens, temperature=0.7)
    model = get_chat_model("embedded", settings)
    if not isinstance(model, LlamaCppChatModel):
        raise TypeError(f"expected the llama.cpp model, got {type(model).__name__}")
    start = time.perf_counter()
    await ping(model, settings)  # starts the engine's child process and loads the weights
    print(f"embedded: start and load {time.perf_counter() - start:.2f} s")
    messages = [
        SystemMessage("You are a Python programmer. Reply with one ```python code block."),
        HumanMessage("Write solve(xs) returning the longest strictly increasing run in xs."),
    ]
    for label, kk in (("one call", 1), (f"k={k} samples", k)):
        start = time.perf_counter()
        got = await sample(model, messages, kk, settings=settings, key="embedded")
        wall = time.perf_counter() - start
        out = sum(s.output_tokens for s in got)
        print(
            f"embedded {label}: {out} output tokens in {wall:.2f} s = {out / wall:.0f} tokens/s "
            f"({sum(s.input_tokens for s in got)} prompt tokens)"
        )


def main() -> None:
    """Run each mode for a few rounds and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--latency", type=float, default=1.0, help="seconds per request")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--requests", type=int, default=256, help="requests per round")
    parser.add_argument("--k", type=int, default=8, help="choices per request in mode n")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--embedded", action="store_true", help="measure the embedded model")
    args = parser.parse_args()
    print(f"machine: {machine_line()}")
    if args.embedded:
        asyncio.run(bench_embedded(args.k, max_tokens=256))
        return
    print(
        f"latency {args.latency:g} s, concurrency {args.concurrency}, "
        f"{args.requests} requests per round, ideal {args.concurrency / args.latency:g} req/s"
    )
    summary = []
    for mode, honour_n in (("concurrent", False), ("n", True)):
        proc, base = start_server(args.latency, honour_n)
        try:
            rounds = []
            for _ in range(args.rounds):
                r = asyncio.run(
                    run_round(mode, base, args.latency, args.concurrency, args.requests, args.k)
                )
                rounds.append(r)
                print(
                    f"  {mode:10s} {r.requests:4d} requests {r.samples:5d} samples "
                    f"{r.errors} errors in {r.wall_s:6.2f} s (ideal {r.ideal_s:.0f} s): "
                    f"{r.requests / r.wall_s:6.1f} req/s, {r.samples / r.wall_s:7.1f} samples/s, "
                    f"{100 * r.efficiency:5.1f}% of ideal, max in flight {r.max_in_flight}"
                )
            summary.append((mode, statistics.median(r.efficiency for r in rounds)))
        finally:
            proc.terminate()
            proc.wait(10)
    print(f"machine after: {machine_line()}")
    for mode, eff in summary:
        verdict = "ok" if eff >= 0.9 else "BELOW TARGET"
        print(f"{mode}: median {100 * eff:.1f}% of ideal (target >= 90%): {verdict}")


if __name__ == "__main__":
    main()
