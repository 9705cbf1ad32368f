"""Export a run's valid problems as an RL dataset that verl and TRL's GRPOTrainer read as is.

One record layout for every format (jsonl, parquet, a saved `datasets.DatasetDict`):

- verl's RL columns: `prompt` (chat messages), `data_source`, `ability`,
  `reward_model = {"style": "rule", "ground_truth": <JSON string>}` and `extra_info`;
- flat columns a TRL reward function receives as keyword arguments (`id`, `band`, `pass_rate`,
  `tests`, `entry_point`, `io_style`, ...), and `curriculum_index` / `stage` from the schedule.

Nested values whose keys vary between rows (per-student pass rates, the tests) are JSON strings,
so Arrow gives every row the same schema and a round trip returns exactly what was written.
Problems overlapping HumanEval and in-bank near-duplicates are left out and listed in the card.
Everything is written into a temporary folder beside `out` and renamed into place at the end.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from stepstones.tools.decontam import BenchmarkError, BenchmarkIndex, contaminated
from stepstones.tools.dedup import NearDupIndex, problem_text
from stepstones.tools.schedule import (
    ScheduleName,
    Step,
    band_order,
    bands_from_config,
    lineage_roots,
    schedule,
)
from stepstones.tools.schema import IOStyle, Problem, Record, TestCase
from stepstones.tools.store import Bank

Format = Literal["jsonl", "parquet", "hf"]
FORMATS: tuple[Format, ...] = ("jsonl", "parquet", "hf")
DATA_SOURCE = "stepstones"

SYSTEM_PROMPT = (
    "You are an expert Python programmer. Solve the problem. Reply with a single ```python code "
    "block that defines the requested function. Use only the standard library."
)


class ExportError(RuntimeError):
    """An export that cannot proceed; the message is one line a user can act on."""


class GroundTruth(Record):
    """What a verifier needs to judge a completion: the contract between export and reward."""

    tests: list[TestCase]
    entry_point: str = "solve"
    io_style: IOStyle = "function"
    time_limit_s: float | None = None

    @classmethod
    def of(cls, problem: Problem) -> GroundTruth:
        """The ground truth of a problem (never its reference solution)."""
        return cls(
            tests=problem.tests,
            entry_point=problem.entry_point,
            io_style=problem.io_style,
            time_limit_s=problem.time_limit_s,
        )


@dataclass(frozen=True)
class Exclusion:
    """A problem left out of the export, and why."""

    id: str
    reason: Literal["contaminated", "duplicate"]
    match: str
    score: float


@dataclass
class ExportResult:
    """What an export wrote: where, how many rows per band and stage, what it left out."""

    run_id: str
    out: Path
    format: Format
    schedule: ScheduleName
    rows: int
    bands: dict[str, int]
    stages: list[tuple[str, int]]
    excluded: list[Exclusion] = field(default_factory=list)
    decontaminated: bool = True
    config: dict[str, Any] = field(default_factory=dict)
    run_status: str = "finished"
    """The run's status in the bank when exported: anything but finished means partial."""


def user_prompt(problem: Problem) -> str:
    """The user message: the statement, what to implement, one worked example, the reply form."""
    first = problem.tests[0]
    if problem.io_style == "stdio":
        how = "Write a complete program that reads standard input and writes standard output."
        example = f"Example input:\n{first.input}\nExpected output:\n{first.expected}"
    else:
        how = (
            f"Implement `{problem.entry_point}` (tests call it with positional arguments and "
            "compare the returned value)."
        )
        example = (
            f"Example call arguments (JSON): {first.input}\n"
            f"Expected result (JSON): {first.expected}"
        )
    return (
        f"{problem.statement.strip()}\n\n{how}\n{example}\n\n"
        "Reply with a single ```python code block. Use only the standard library."
    )


def prompt_messages(problem: Problem, *, system: bool = False) -> list[dict[str, str]]:
    """The chat prompt: one user message, optionally after the students' system message."""
    messages = [{"role": "system", "content": SYSTEM_PROMPT}] if system else []
    return [*messages, {"role": "user", "content": user_prompt(problem)}]


def to_record(problem: Problem, step: Step, *, system: bool = False) -> dict[str, Any]:
    """One dataset row: verl's columns, TRL-friendly flat columns and the curriculum position."""
    lin = problem.lineage
    truth = GroundTruth.of(problem).model_dump_json()
    return {
        "prompt": prompt_messages(problem, system=system),
        "data_source": DATA_SOURCE,
        "ability": "code",
        "reward_model": {"style": "rule", "ground_truth": truth},
        "extra_info": {
            "id": problem.id,
            "index": step.index,
            "title": problem.title,
            "band": problem.band,
            "pass_rate": problem.pass_rate,
            "pass_rates": json.dumps(problem.pass_rates, sort_keys=True),
            "family": problem.family,
            "level": problem.level,
            "lineage": {
                "seed_id": lin.seed_id,
                "root_id": lin.root_id,
                "parent_id": lin.parent_id,
                "turn": lin.turn,
                "direction": lin.direction,
            },
        },
        "id": problem.id,
        "title": problem.title,
        "statement": problem.statement,
        "band": problem.band,
        "pass_rate": problem.pass_rate,
        "tests": json.dumps([t.model_dump() for t in problem.tests], ensure_ascii=False),
        "entry_point": problem.entry_point,
        "io_style": problem.io_style,
        "time_limit_s": problem.time_limit_s,
        "reference_solution": problem.reference_solution,
        "curriculum_index": step.index,
        "stage": step.stage,
    }


def arrow_schema() -> Any:
    """The explicit Arrow schema of a row, so all-null columns keep their types."""
    import pyarrow as pa

    s, f, i = pa.string(), pa.float64(), pa.int64()
    lineage = pa.struct(
        [("seed_id", s), ("root_id", s), ("parent_id", s), ("turn", i), ("direction", s)]
    )
    extra = pa.struct(
        [
            ("id", s),
            ("index", i),
            ("title", s),
            ("band", s),
            ("pass_rate", f),
            ("pass_rates", s),
            ("family", s),
            ("level", i),
            ("lineage", lineage),
        ]
    )
    return pa.schema([
        ("prompt", pa.list_(pa.struct([("role", s), ("content", s)]))),
        ("data_source", s), ("ability", s),
        ("reward_model", pa.struct([("style", s), ("ground_truth", s)])),
        ("extra_info", extra),
        ("id", s), ("title", s), ("statement", s), ("band", s), ("pass_rate", f), ("tests", s),
        ("entry_point", s), ("io_style", s), ("time_limit_s", f), ("reference_solution", s),
        ("curriculum_index", i), ("stage", s),
    ])  # fmt: skip


def screen(
    problems: Sequence[Problem], benchmark: BenchmarkIndex | None, threshold: float = 0.8
) -> tuple[list[Problem], list[Exclusion]]:
    """Drop problems overlapping the benchmark, then near-duplicates of an earlier kept problem.

    Stepping stones of one lineage differ by design in a word or a comparison ("increasing" ->
    "decreasing") and score ~0.9 on text alone, so inside a lineage only an identical normalised
    problem counts as a duplicate (the critic already rejects copies of a parent); across
    lineages anything at `threshold` or above does, since two seeds then led to the same task.
    """
    roots = lineage_roots(problems)
    kept: list[Problem] = []
    excluded: list[Exclusion] = []
    index = NearDupIndex(threshold=threshold)
    for p in problems:
        hit = contaminated(p, benchmark) if benchmark is not None else None
        if hit is not None:
            excluded.append(Exclusion(p.id, "contaminated", hit[0], hit[1]))
            continue
        text = problem_text(p)
        dups = [(k, s) for k, s in index.query(text) if roots[k] != roots[p.id] or s >= 1.0]
        if dups:
            excluded.append(Exclusion(p.id, "duplicate", dups[0][0], dups[0][1]))
            continue
        index.add(p.id, text)
        kept.append(p)
    return kept, excluded


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c == "_" else "_" for c in name) or "stage"


def _stage_groups(rows: list[dict[str, Any]]) -> list[tuple[str, list[dict[str, Any]]]]:
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(row["stage"], []).append(row)
    return list(groups.items())


def _write_data(rows: list[dict[str, Any]], folder: Path, fmt: Format) -> None:
    stages = _stage_groups(rows)
    per_stage = len(stages) > 1
    if fmt == "jsonl":
        sets = [("train", rows)] + [
            (f"stage_{k:02d}_{_safe(n)}", r) for k, (n, r) in enumerate(stages) if per_stage
        ]
        for name, part in sets:
            path = folder / ("stages" if name != "train" else "") / f"{name}.jsonl"
            path.parent.mkdir(exist_ok=True)
            with path.open("w", encoding="utf-8") as fh:
                for row in part:
                    fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        return
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise ExportError(
            f"--format {fmt} needs pyarrow: pip install 'stepstones[export]'"
        ) from exc
    schema = arrow_schema()
    if fmt == "parquet":
        pq.write_table(pa.Table.from_pylist(rows, schema=schema), folder / "train.parquet")
        if per_stage:
            (folder / "stages").mkdir()
            for k, (name, part) in enumerate(stages):
                pq.write_table(
                    pa.Table.from_pylist(part, schema=schema),
                    folder / "stages" / f"stage_{k:02d}_{_safe(name)}.parquet",
                )
        return
    try:
        import datasets
    except ImportError as exc:
        raise ExportError("--format hf needs datasets: pip install 'stepstones[export]'") from exc
    features = datasets.Features.from_arrow_schema(schema)
    splits = {"train": datasets.Dataset.from_list(rows, features=features)}
    if per_stage:
        for k, (name, part) in enumerate(stages):
            splits[f"stage_{k:02d}_{_safe(name)}"] = datasets.Dataset.from_list(
                part, features=features
            )
    was_enabled = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()  # one summary line from the CLI, not a bar per split
    try:
        datasets.DatasetDict(splits).save_to_disk(str(folder))
    finally:
        if was_enabled:
            datasets.enable_progress_bars()


def _replace_dir(tmp: Path, out: Path, force: bool) -> None:
    if out.exists() and not (out.is_dir() and not any(out.iterdir())):
        if not force:
            raise ExportError(f"{out} already exists and is not empty (use --force to replace it)")
        old = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.old-"))
        os.replace(out, old / out.name)
        os.replace(tmp, out)
        shutil.rmtree(old, ignore_errors=True)
        return
    if out.exists():
        out.rmdir()
    os.replace(tmp, out)


def resolve_run(bank: Bank, run_id: str | None) -> str:
    """The run to export: `run_id` if the bank has it, else the bank's newest run."""
    if run_id is not None:
        if bank.get_run(run_id) is None:
            known = ", ".join(r["id"] for r in bank.runs()[:5]) or "none"
            raise ExportError(f"run {run_id!r} not found in {bank.path} (recent runs: {known})")
        return run_id
    runs = bank.runs()
    if not runs:
        raise ExportError(f"{bank.path} holds no runs; run `stepstones run` first")
    return str(runs[0]["id"])


def export_run(
    bank: Bank,
    out: str | Path,
    *,
    run_id: str | None = None,
    fmt: Format = "jsonl",
    schedule_name: ScheduleName = "easy_to_hard",
    mix: dict[str, float] | None = None,
    seed: int = 0,
    system_prompt: bool = False,
    benchmark: BenchmarkIndex | Literal["humaneval"] | None = "humaneval",
    dup_threshold: float = 0.8,
    force: bool = False,
    partial: bool = False,
) -> ExportResult:
    """Write a run's valid, clean problems to `out` (a folder) in curriculum order, with a card.

    `benchmark=None` skips decontamination (the card says so). Raises ExportError or ValueError
    with nothing written when the run, the format or the schedule is unusable. A run that has
    not finished is refused unless `partial`; then export.json and the card say it is partial.
    """
    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}")
    out = Path(out)
    if out.exists() and not force and not (out.is_dir() and not any(out.iterdir())):
        raise ExportError(f"{out} already exists and is not empty (use --force to replace it)")
    run = resolve_run(bank, run_id)
    row = bank.get_run(run) or {}
    config = json.loads(row.get("config") or "{}")
    status = str(row.get("status") or "unknown")
    if status != "finished" and not partial:
        raise ExportError(
            f"run {run!r} has not finished (its status in the bank is {status!r}): an export now "
            "would hold only part of it; wait for it, or pass --partial to export what it holds")
    problems = list(bank.problems(run))
    if not problems:
        raise ExportError(f"run {run!r} has no valid problems to export")
    if benchmark == "humaneval":
        try:
            benchmark = BenchmarkIndex.humaneval()
        except BenchmarkError as exc:
            raise ExportError(f"{exc} (or pass --no-decontam)") from exc
    kept, excluded = screen(problems, benchmark, dup_threshold)
    if not kept:
        raise ExportError(f"run {run!r}: all {len(problems)} problems were excluded")
    ranges = bands_from_config(config)
    steps = schedule(kept, schedule_name, bands=ranges, mix=mix, seed=seed)
    per_band = Counter(r.problem.band or "unbanded" for r in steps)
    rows = [to_record(s.problem, s, system=system_prompt) for s in steps]
    result = ExportResult(
        run_id=run, out=out, format=fmt, schedule=schedule_name, rows=len(rows),
        bands={b: per_band[b] for b in band_order(kept, ranges) if per_band[b]},
        stages=[(name, len(part)) for name, part in _stage_groups(rows)],
        excluded=excluded, decontaminated=benchmark is not None, config=config,
        run_status=status,
    )  # fmt: skip
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.tmp-"))
    try:
        _write_data(rows, tmp, fmt)
        (tmp / "README.md").write_text(dataset_card(result), encoding="utf-8")
        (tmp / "export.json").write_text(json.dumps(summary(result), indent=2), encoding="utf-8")
        _replace_dir(tmp, out, force)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return result


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
        "decontaminated": result.decontaminated,
        "excluded": {"contaminated": reasons["contaminated"], "duplicate": reasons["duplicate"]},
        "exclusions": [e.__dict__ for e in result.excluded],
    }


_FIELDS = """\
| column | meaning |
|---|---|
| `prompt` | chat messages [{role, content}]: statement, what to implement, one example |
| `data_source`, `ability` | `stepstones`, `code` (verl routes rewards by data_source) |
| `reward_model` | {style: rule, ground_truth: JSON of tests, entry_point, io_style, time_limit_s} |
| `extra_info` | id, index, title, band, pass_rate, pass_rates (JSON), family, level, lineage |
| `id`, `title`, `statement` | content-hash id and the problem |
| `band`, `pass_rate` | difficulty band; mean pass rate over all student samples |
| `tests` | JSON list of {input, expected}; function style: input is a JSON argument array |
| `entry_point`, `io_style`, `time_limit_s` | how tests call a solution; CPU seconds per run |
| `reference_solution` | a solution that passes every test (never shown in the prompt) |
| `curriculum_index`, `stage` | position in the schedule and its stage |
"""


def dataset_card(result: ExportResult) -> str:
    """The README.md written beside the data: fields, counts, exclusions and how it was made."""
    ext = {"jsonl": "train.jsonl", "parquet": "train.parquet", "hf": "train/*.arrow"}[result.format]
    reasons = Counter(e.reason for e in result.excluded)
    cfg = result.config
    students = ", ".join(map(str, cfg.get("students", []))) or "?"
    bands = "\n".join(f"| {name} | {n} |" for name, n in result.bands.items())
    stages = "\n".join(f"| {k} | {name} | {n} |" for k, (name, n) in enumerate(result.stages))
    decontam = (
        "HumanEval n-gram decontamination (13-word and normalised 10-token code n-grams)"
        if result.decontaminated
        else "**not decontaminated** (exported with --no-decontam)"
    )
    partial = ("" if result.run_status == "finished" else
               f"\n**Partial:** exported with --partial while the run was {result.run_status}; "
               "it may have banked more since.\n")
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

## How it was made

stepstones ran a teacher ({cfg.get("teacher", "?")}) that writes problems, a critic that runs
each reference against its tests and rejects weak, leaking or duplicate problems, and students
({students}; {cfg.get("samples", "?")} samples each) whose pass rates place every problem in a
band. Seed {cfg.get("seed", "?")}.
Exported with {decontam}, then MinHash near-duplicate removal within the bank.

Left out: {reasons["contaminated"]} contaminated, {reasons["duplicate"]} near-duplicates
(ids in `export.json`).

## Counts per band

| band | rows |
|---|---|
{bands}

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
