"""Benchmark: how busy a whole curriculum run keeps a vLLM-like model server.

With real models a run's cost is GPU time, so the figure that matters is the share of the
server's capacity the pipeline uses. This runs the real graph (`run_pipeline`: LLM teacher,
two LLM students with k samples each, the critic's checks in the local sandbox, bands, bank,
SQLite checkpoints) against the OpenAI stand-in in vLLM mode (evals/engine_model.py), in its
own process so the run's CPU work does not slow its clock:

- each choice of a request with `n` is one sequence (vLLM fans `n` out); at most `--cap`
  sequences run, the others wait in a FIFO queue;
- a running sequence takes prompt tokens / `--prefill-tps` + output tokens / `--decode-tps`;
- the replies are valid tasks of every environment for the teacher and right or wrong answers
  for the students, deterministic per request (evals/standin_replies.py).

Printed, over the run (the server's window: its first request to its last reply):
- endpoint busy: the time-weighted mean of running sequences / cap; time at cap, time empty;
- sequences/s and requests/s against the ideal, cap / mean latency (a sequence's slot time,
  queue excluded; a request holds as many slots as it has choices). Their ratio is the busy
  fraction again, by Little's law: the two are computed apart, so they check each other;
- teacher and student tokens per viable problem (one that landed in a band, surplus included);
- the sandbox's share of wall time: the time at least one sandbox job ran / the run's wall.

The last line is `endpoint busy: NN.N% of capacity` (the median with --repeat). Run i of a
--repeat uses seed `--seed + i`: with one seed the replies are the same, so its runs are one draw
made again (which turn ends first still varies with timing, little on a quiet machine); the
seed picks the seeds and environments, and so the tasks, their difficulty and the tail.

    python -m stepstones.evals.bench_pipeline [--cap 16] [--decode-tps 60] [--quota 4]
        [--environments code,induction,...] [--lineages L] [--schedule auto] [--repeat 1]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, cast

from pydantic import BaseModel

from stepstones.evals.engine_model import EngineModel, EngineStats
from stepstones.evals.openai_standin import read_stats, spawn
from stepstones.reporting.machine import machine_line
from stepstones.tools.environments import ENVIRONMENT_NAMES
from stepstones.tools.sandbox.base import Sandbox, Submission
from stepstones.tools.schema import Verdict

if TYPE_CHECKING:
    from stepstones.graphs.context import RunContext

REPLY = "stepstones.evals.standin_replies:bench_reply"


class TimedSandbox:
    """A sandbox that notes when any of its jobs run, for the sandbox's share of wall time."""

    def __init__(self, inner: Sandbox) -> None:
        self.inner = inner
        self.name = inner.name
        self.busy_s = 0.0
        self.calls = 0
        self.jobs = 0
        self._active = 0
        self._since = 0.0

    @property
    def isolation(self) -> str:
        """The wrapped sandbox's isolation."""
        return self.inner.isolation

    async def run(self, submissions: Sequence[Submission]) -> list[Verdict]:
        """The wrapped sandbox's verdicts; the time with a call in flight is added up once."""
        if self._active == 0:
            self._since = time.perf_counter()
        self._active += 1
        self.calls += 1
        self.jobs += len(submissions)
        try:
            return await self.inner.run(submissions)
        finally:
            self._active -= 1
            if self._active == 0:
                self.busy_s += time.perf_counter() - self._since

    async def aclose(self) -> None:
        """Close the wrapped sandbox."""
        await self.inner.aclose()


class Figures(BaseModel):
    """One run's figures."""

    wall_s: float
    stop_reason: str | None
    viable: int
    teacher_tokens: int
    student_tokens: int
    sandbox_busy_s: float
    sandbox_jobs: int
    engine: EngineStats

    @property
    def teacher_per_viable(self) -> float:
        """Teacher tokens (prompt + output) per problem that landed in a band."""
        return self.teacher_tokens / self.viable if self.viable else float("nan")

    @property
    def student_per_viable(self) -> float:
        """Student tokens (prompt + output) per problem that landed in a band."""
        return self.student_tokens / self.viable if self.viable else float("nan")

    @property
    def sandbox_share(self) -> float:
        """Time with a sandbox job running / the run's wall time."""
        return self.sandbox_busy_s / self.wall_s if self.wall_s else 0.0

    @property
    def ideal_sequences_per_s(self) -> float:
        """Cap / mean latency: every slot always taken."""
        e = self.engine
        return e.cap / e.mean_service_s if e.mean_service_s else 0.0

    @property
    def sequences_per_s(self) -> float:
        """Sequences done per second of the server's window."""
        return self.engine.done / self.engine.window_s if self.engine.window_s else 0.0

    @property
    def requests_per_s(self) -> float:
        """Requests per second of the server's window."""
        return self.engine.requests / self.engine.window_s if self.engine.window_s else 0.0

    @property
    def ideal_requests_per_s(self) -> float:
        """The ideal for requests of this run's mean size: cap / (latency x choices)."""
        e = self.engine
        per_request = e.sequences / e.requests if e.requests else 1.0
        return self.ideal_sequences_per_s / per_request


def engine_stats(base: str, reset: bool = False) -> EngineStats:
    """The stand-in's engine figures (POST: read, then start a new window)."""
    return EngineStats.model_validate(read_stats(base, reset)["engine"])


def start_server(model: EngineModel) -> tuple[subprocess.Popen[bytes], str]:
    """The vLLM-like stand-in in a child process, answering with the bench's replies."""
    engine = ["--cap", str(model.cap), "--prefill-tps", str(model.prefill_tps)]
    return spawn([*engine, "--decode-tps", str(model.decode_tps), "--reply", REPLY])


def run_context(args: argparse.Namespace, base: str, seed: int) -> RunContext:
    """The benchmark's run: an LLM teacher and two LLM students on the stand-in at `base`."""
    from stepstones.graphs.bands import default_bands
    from stepstones.graphs.context import RunContext

    url = f"{base}/v1"
    return RunContext(
        teacher=f"vllm:teacher@{url}",
        students=[f"vllm:student-a@{url}", f"vllm:student-b@{url}"],
        samples=args.samples,
        concurrency=args.lineages,
        schedule=args.schedule,
        endpoint_concurrency=args.endpoint_concurrency,
        environments={e: 1.0 for e in args.environments},
        bands=default_bands(args.quota),
        seed=seed,
    )


async def run_once(args: argparse.Namespace, base: str, out: Path, seed: int) -> Figures:
    """One curriculum run with `seed` against the stand-in at `base`; its figures."""
    from stepstones.graphs.components import ComponentResolver
    from stepstones.runner import run_pipeline
    from stepstones.tools.sandbox import get_sandbox

    ctx = run_context(args, base, seed)
    sandbox = TimedSandbox(get_sandbox(ctx.sandbox))
    engine_stats(base, reset=True)
    start = time.perf_counter()
    result = await run_pipeline(
        ctx, out, run_id="bench", resolver=ComponentResolver(sandbox=sandbox)
    )
    wall = time.perf_counter() - start
    stats = engine_stats(base)
    report = result.report
    bands = cast("dict[str, dict[str, int]]", report.get("bands", {}))
    usage = cast("list[dict[str, object]]", report.get("usage", []))

    def tokens(agent: str) -> int:
        return sum(
            int(str(u["input_tokens"])) + int(str(u["output_tokens"]))
            for u in usage
            if u["agent"] == agent
        )

    return Figures(
        wall_s=wall,
        stop_reason=result.stop_reason,
        viable=sum(b["count"] + b["surplus"] for b in bands.values()),
        teacher_tokens=tokens("teacher"),
        student_tokens=tokens("student"),
        sandbox_busy_s=sandbox.busy_s,
        sandbox_jobs=sandbox.jobs,
        engine=stats,
    )


def occupancy(e: EngineStats) -> str:
    """Shares of the window by how many slots were taken (empty, up to a quarter, ..., all)."""
    if not e.window_s or len(e.time_at) != e.cap + 1:
        return "n/a"
    edges = [0.0, 0.25, 0.5, 0.75, 1.0]
    parts = [f"0: {100 * e.time_at[0] / e.window_s:.0f}%"]
    for lo, hi in itertools.pairwise(edges):
        ks = [k for k in range(1, e.cap) if lo < k / e.cap <= hi]
        share = sum(e.time_at[k] for k in ks) / e.window_s
        parts.append(f"<={100 * hi:.0f}%: {100 * share:.0f}%")
    parts[-1] = parts[-1].replace("<=100%", "<100%")
    parts.append(f"cap: {100 * e.time_at[e.cap] / e.window_s:.0f}%")
    return ", ".join(parts)


def print_figures(f: Figures, label: str) -> None:
    """The run's figures, one per line."""
    e = f.engine
    print(f"{label}: wall {f.wall_s:.1f} s, stop {f.stop_reason}, {f.viable} viable problems")
    print(
        f"  endpoint: {e.requests} requests, {e.sequences} sequences over {e.window_s:.1f} s; "
        f"busy {100 * e.busy_fraction:.1f}%, at cap {100 * e.at_cap_fraction:.1f}% "
        f"of the time, empty {100 * e.empty_fraction:.1f}%; max queued {e.max_waiting}, "
        f"mean queue wait {e.wait_s / max(1, e.sequences):.2f} s"
        if e.window_s
        else "  endpoint: no requests"
    )
    print(f"  time by slots taken: {occupancy(e)}")
    tenths = " ".join(f"{100 * b:.0f}%" for b in e.busy_by_tenth())
    print(f"  busy by tenth of the window: {tenths}")
    seconds = " ".join(f"{100 * b:.0f}%" for b in e.busy_by_second())
    print(f"  busy by second: {seconds}")
    print(
        f"  sequences/s {f.sequences_per_s:.2f} vs ideal {f.ideal_sequences_per_s:.2f} "
        f"(cap {e.cap} / mean latency {e.mean_service_s:.2f} s); requests/s "
        f"{f.requests_per_s:.2f} vs ideal {f.ideal_requests_per_s:.2f} "
        f"({e.sequences / max(1, e.requests):.2f} sequences a request)"
    )
    print(
        f"  tokens per viable problem: teacher {f.teacher_per_viable:.0f}, "
        f"student {f.student_per_viable:.0f}"
    )
    print(
        f"  sandbox: {f.sandbox_jobs} jobs, running {f.sandbox_busy_s:.1f} s = "
        f"{100 * f.sandbox_share:.1f}% of wall time"
    )


class _Help(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """The module's docstring as written, and every flag's default."""


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The benchmark's flags."""
    parser = argparse.ArgumentParser(
        prog="python -m stepstones.evals.bench_pipeline", description=__doc__, formatter_class=_Help
    )
    parser.add_argument(
        "--cap", type=int, default=16, help="sequences the server runs at once (max_num_seqs)"
    )
    parser.add_argument(
        "--prefill-tps", type=float, default=5000.0, help="server prompt tokens per second"
    )
    parser.add_argument(
        "--decode-tps",
        type=float,
        default=60.0,
        help="server output tokens per second per sequence (latency = prefill + decode)",
    )
    parser.add_argument(
        "--quota", type=int, default=4, help="problems per band (3 bands: hard, medium, easy)"
    )
    parser.add_argument(
        "--environments",
        default=",".join(ENVIRONMENT_NAMES),
        help="comma-separated environments; each lineage draws one, with equal weights",
    )
    parser.add_argument(
        "--lineages",
        type=int,
        default=None,
        help="lineages in flight (concurrency; default the product's: one per endpoint slot "
        "under flow, 6 under rounds)",
    )
    parser.add_argument(
        "--schedule",
        choices=["auto", "rounds", "flow"],
        default="auto",
        help="how lineages take turns (RunContext.schedule; auto: flow, as for any LLM run)",
    )
    parser.add_argument(
        "--endpoint-concurrency",
        type=int,
        default=16,
        help="the client's bound on requests in flight (endpoint_concurrency)",
    )
    parser.add_argument("--samples", type=int, default=4, help="samples per student (k, via n)")
    parser.add_argument("--seed", type=int, default=0, help="the run's seed (seeds, environments)")
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="runs, with seeds --seed, --seed + 1, ...; the last line is their median",
    )
    parser.add_argument("--out", type=Path, default=None, help="keep the runs' outputs here")
    args = parser.parse_args(argv)
    args.environments = [e.strip() for e in str(args.environments).split(",") if e.strip()]
    unknown = sorted(set(args.environments) - set(ENVIRONMENT_NAMES))
    if unknown or not args.environments:
        parser.error(f"--environments: choose from {','.join(ENVIRONMENT_NAMES)}, got {unknown}")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    """Run the benchmark and print its figures; the last line is the busy fraction."""
    args = parse_args(argv)
    model = EngineModel(cap=args.cap, prefill_tps=args.prefill_tps, decode_tps=args.decode_tps)
    print(f"machine: {machine_line()}")
    planned = run_context(args, "http://127.0.0.1:0", args.seed)  # as resolved for the runs
    print(
        f"server: cap {model.cap} sequences, prefill {model.prefill_tps:g} tok/s, decode "
        f"{model.decode_tps:g} tok/s per sequence; client: {args.endpoint_concurrency} requests "
        f"in flight; run: {planned.lineages_in_flight} lineages "
        f"({'flow' if planned.flowing else 'rounds'}), "
        f"quota {args.quota} x 3 bands, k={args.samples} x 2 students, "
        f"environments {','.join(args.environments)}"
    )
    proc, base = start_server(model)
    runs: list[Figures] = []
    try:
        with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as tmp:
            root = args.out or Path(tmp)
            for i in range(args.repeat):
                seed = args.seed + i  # repeats of one seed are one draw, made again
                figures = asyncio.run(run_once(args, base, root / f"run{i}", seed))
                runs.append(figures)
                print_figures(figures, f"run {i + 1} (seed {seed})")
    finally:
        proc.terminate()
        proc.wait(10)
    busy = statistics.median(f.engine.busy_fraction for f in runs)
    if len(runs) > 1:
        med = statistics.median
        print(
            f"medians of {len(runs)}: wall {med(f.wall_s for f in runs):.1f} s, at cap "
            f"{100 * med(f.engine.at_cap_fraction for f in runs):.1f}%, empty "
            f"{100 * med(f.engine.empty_fraction for f in runs):.1f}%, "
            f"sequences/s {med(f.sequences_per_s for f in runs):.2f} of ideal "
            f"{med(f.ideal_sequences_per_s for f in runs):.2f}, tokens per viable: teacher "
            f"{med(f.teacher_per_viable for f in runs):.0f}, student "
            f"{med(f.student_per_viable for f in runs):.0f}, sandbox "
            f"{100 * med(f.sandbox_share for f in runs):.1f}% of wall"
        )
    print(f"endpoint busy: {100 * busy:.1f}% of capacity")


if __name__ == "__main__":
    main()
