"""Export a run's valid problems as an RL dataset that verl and TRL's GRPOTrainer read as is.

One record layout for every format (jsonl, parquet, a saved `datasets.DatasetDict`):

- verl's RL columns: `prompt` (chat messages), `data_source`, `ability`,
  `reward_model = {"style": "rule", "ground_truth": <JSON string>}` and `extra_info`;
- flat columns a TRL reward function receives as keyword arguments (`id`, `band`, `pass_rate`,
  `environment`, `tests`, `entry_point`, `io_style`, `spec`, `program`, ...), and
  `curriculum_index` / `stage` from the schedule.

Every row names its environment (tools/environments) and its ground truth is that
environment's `Truth`: all `tools.reward` needs to re-judge an answer by execution. A code row's
ground truth is the `GroundTruth` JSON it always was, so existing consumers read it unchanged.

Nested values whose keys vary between rows (per-student pass rates, the tests) are JSON strings,
so Arrow gives every row the same schema and a round trip returns exactly what was written.
Problems whose pass rate is outside the keep range (the paper's 0.01 <= p <= 0.97: nearly no
or nearly every sample passes, no signal for a group-relative trainer) stay in the bank but are
not exported unless asked; then those overlapping HumanEval and in-bank near-duplicates are left
out. The card and export.json count each.
Everything is written into a temporary folder beside `out` and renamed into place at the end.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict

from stepstones.tools.decontam import BenchmarkError, BenchmarkIndex
from stepstones.tools.environments import Truth, get_environment
from stepstones.tools.export_card import Provenance, dataset_card, provenance, summary
from stepstones.tools.export_screen import Exclusion, Screen, features, screening_pool
from stepstones.tools.export_screen import screen as screen  # re-exported: callers import it here
from stepstones.tools.export_screen import screened as screened
from stepstones.tools.export_writers import Format, Page, encode, write_rows
from stepstones.tools.pool import Pool, default_workers
from stepstones.tools.schedule import (
    DEFAULT_SCHEDULE,
    Ranked,
    ScheduleName,
    Step,
    band_order,
    bands_from_config,
    lineage_roots,
    schedule,
)
from stepstones.tools.schema import IOStyle, Lineage, Problem, Record, TestCase
from stepstones.tools.store import Bank, RunNotFound
from stepstones.tools.task_prompt import task_messages

FORMATS: tuple[Format, ...] = ("jsonl", "parquet", "hf")
RUN_CONFIG_FILE = "run_config.json"
"""The run's resolved config as the bank stored it (`stepstones run --config` reads it)."""
CALLS_FILE = "model_calls.jsonl"
"""The run's model calls (messages, replies, tokens, latency, outcome), with --calls."""
R = TypeVar("R", bound=Ranked)
DATA_SOURCE = "stepstones"
KEEP_RANGE = (0.01, 0.97)
"""Pass rates exported by default, inclusive (arXiv 2603.24202, "Filtering")."""
PAGE = 500
"""Problems read from the bank, and rows written, at a time: memory stays flat in the run's size."""


class ExportError(RuntimeError):
    """An export that cannot proceed; the message is one line a user can act on."""


class GroundTruth(Record):
    """What a verifier needs to judge a code completion: the wire form of a code row's truth.

    Code rows keep exactly this JSON (consumers written before environments existed parse it);
    rows of other environments carry the whole `Truth`, see `ground_truth`.
    """

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


CODE_ONLY_EXCLUDED = {"environment", "spec", "program"}
"""`Truth` fields a code row's ground truth leaves out: the code judge uses none of them."""


def truth_of(problem: Problem) -> Truth:
    """What re-judging an answer to `problem` needs, from its own environment (never a hidden
    reference: code and induction keep theirs out, abduction and fuzzing show f anyway)."""
    return get_environment(problem.environment).truth(problem)


def ground_truth(problem: Problem) -> str:
    """The row's `reward_model.ground_truth` JSON: `GroundTruth` for code, else the `Truth`."""
    truth = truth_of(problem)
    if truth.environment == "code":
        return truth.model_dump_json(exclude=CODE_ONLY_EXCLUDED)
    return truth.model_dump_json()


@dataclass
class ExportResult:
    """What an export wrote: where, how many rows per band, stage and environment, what it
    left out."""

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
    keep_range: tuple[float, float] | None = KEEP_RANGE
    run_status: str = "finished"
    """The run's status in the bank when exported: anything but finished means partial."""
    environments: dict[str, int] = field(default_factory=dict)
    """Rows per environment, in first-seen curriculum order."""
    provenance: Provenance | None = None
    """Counts per band and environment, pass rates, samples, seeds and command lines."""
    include_surplus: bool = False
    """Whether problems past their band's quota were exported (by default they are not)."""


class RowKey(BaseModel):
    """What screening, ordering and counting read of a problem, without its text: a run's
    problems are scheduled as keys (read from the bank's records with the rest skipped,
    not validated) and read whole again only when their rows are written."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: str
    band: str | None = None
    pass_rate: float | None = None
    lineage: Lineage
    environment: str = Problem.model_fields["environment"].default


def to_record(problem: Problem, step: Step[Any], *, system: bool = True) -> dict[str, Any]:
    """One dataset row: verl's columns, TRL-friendly flat columns and the curriculum position."""
    lin = problem.lineage
    truth = truth_of(problem)
    return {
        "prompt": task_messages(problem, system=system),
        "data_source": DATA_SOURCE,
        "ability": "code",
        "reward_model": {"style": "rule", "ground_truth": ground_truth(problem)},
        "extra_info": {
            "id": problem.id,
            "environment": problem.environment,
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
        "environment": problem.environment,
        "title": problem.title,
        "statement": problem.statement,
        "band": problem.band,
        "pass_rate": problem.pass_rate,
        "tests": json.dumps([t.model_dump() for t in truth.tests], ensure_ascii=False),
        "entry_point": truth.entry_point,
        "io_style": truth.io_style,
        "time_limit_s": truth.time_limit_s,
        "spec": json.dumps(truth.spec, sort_keys=True, ensure_ascii=False),
        "program": truth.program,
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
            ("environment", s),
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
        ("id", s), ("environment", s), ("title", s), ("statement", s), ("band", s),
        ("pass_rate", f), ("tests", s), ("entry_point", s), ("io_style", s), ("time_limit_s", f),
        ("spec", s), ("program", s), ("reference_solution", s),
        ("curriculum_index", i), ("stage", s),
    ])  # fmt: skip


def parse_keep_range(text: str) -> tuple[float, float]:
    """`LO,HI` as a pass-rate range; ValueError unless 0 <= LO <= HI <= 1."""
    try:
        lo, hi = (float(x) for x in text.split(","))
    except ValueError:
        raise ValueError(f"keep range {text!r}: expected LO,HI such as 0.01,0.97") from None
    if not 0.0 <= lo <= hi <= 1.0:
        raise ValueError(f"keep range {text!r}: need 0 <= LO <= HI <= 1")
    return lo, hi


def in_keep_range(
    problems: Iterable[R], keep_range: tuple[float, float] | None
) -> tuple[list[R], list[Exclusion]]:
    """Problems whose pass rate lies in `keep_range` (inclusive), and the others; None keeps all.

    A problem without a measured pass rate is outside any range.
    """
    if keep_range is None:
        return list(problems), []
    lo, hi = keep_range
    kept: list[R] = []
    out: list[Exclusion] = []
    for p in problems:
        if p.pass_rate is not None and lo <= p.pass_rate <= hi:
            kept.append(p)
        else:
            out.append(Exclusion(p.id, "out_of_range", f"outside {lo:g}-{hi:g}", p.pass_rate))
    return kept, out


def _records(bank: Bank, run: str, ids: Sequence[str]) -> Iterator[list[str]]:
    """The JSON records of the problems with `ids`, in that order, a page at a time."""
    for start in range(0, len(ids), PAGE):
        yield bank.problem_records(run, ids[start : start + PAGE])


Place = tuple[str, int, str]
"""A row's problem id, curriculum index and stage: what a page's worker needs of its step."""


def _page_rows(job: tuple[list[str], list[Place], bool, Format]) -> Page:
    """The rows of one page, encoded for the format, from the JSON records of its problems."""
    records, places, system, fmt = job
    problems = {p.id: p for p in map(Problem.model_validate_json, records)}
    rows = [to_record(problems[i], Step(problems[i], index, stage), system=system)
            for i, index, stage in places]  # fmt: skip
    return encode(rows, fmt, _schema() if fmt != "jsonl" else None)


@cache
def _schema() -> Any:
    return arrow_schema()


def _pages(
    bank: Bank, run: str, steps: Sequence[Step[RowKey]], system: bool, fmt: Format, pool: Pool
) -> Iterator[Page]:
    """The export's rows in curriculum order, a page at a time (a mixture may repeat a row),
    built and encoded by the pool's workers."""

    def jobs() -> Iterator[tuple[list[str], list[Place], bool, Format]]:
        for start in range(0, len(steps), PAGE):
            page = steps[start : start + PAGE]
            wanted = list(dict.fromkeys(s.problem.id for s in page))
            places = [(s.problem.id, s.index, s.stage) for s in page]
            yield bank.problem_records(run, wanted), places, system, fmt

    return pool.map(_page_rows, jobs())


def _require(fmt: Format) -> None:
    """Refuse a format whose libraries are missing before anything is read or written."""
    try:
        if fmt != "jsonl":
            import pyarrow  # noqa: F401
        if fmt == "hf":
            import datasets  # noqa: F401
    except ImportError as exc:
        raise ExportError(
            f"--format {fmt} needs {exc.name}: pip install 'stepstones[export]'"
        ) from exc


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


def export_run(
    bank: Bank,
    out: str | Path,
    *,
    run_id: str | None = None,
    fmt: Format = "jsonl",
    schedule_name: ScheduleName = DEFAULT_SCHEDULE,
    mix: dict[str, float] | None = None,
    seed: int = 0,
    system_prompt: bool = True,
    benchmark: BenchmarkIndex | Literal["humaneval"] | None = "humaneval",
    dup_threshold: float = 0.8,
    force: bool = False,
    keep_range: tuple[float, float] | None = KEEP_RANGE,
    partial: bool = False,
    calls: bool = False,
    command: str | None = None,
    include_surplus: bool = False,
    workers: int | None = None,
) -> ExportResult:
    """Write a run's valid, clean problems to `out` (a folder) in curriculum order, with a card.

    Problems past their band's quota (`Bank.quota_surplus`) are left out unless
    `include_surplus`, so the dataset holds what the run was asked for. Only pass rates in
    `keep_range` are exported (None: every one); `benchmark=None` skips
    decontamination (the card says so). Raises ExportError or ValueError with nothing written
    when the run, the format or the schedule is unusable. A run that has not finished is refused
    unless `partial`; then export.json and the card say it is partial. `command` is the
    command line the card names as the export's (the CLI passes its own). `workers` processes
    compute each problem's screening features and build the rows (default: `default_workers()`;
    1: none, all in this one); the output does not depend on it.
    """
    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}")
    out = Path(out)
    if out.exists() and not force and not (out.is_dir() and not any(out.iterdir())):
        raise ExportError(f"{out} already exists and is not empty (use --force to replace it)")
    try:
        run = bank.resolve_run(run_id)
    except RunNotFound as exc:
        raise ExportError(str(exc)) from None
    row = bank.get_run(run) or {}
    config = json.loads(row.get("config") or "{}")
    status = str(row.get("status") or "unknown")
    if status != "finished" and not partial:
        raise ExportError(
            f"run {run!r} has not finished (its status in the bank is {status!r}): an export now "
            "would hold only part of it; wait for it, or pass --partial to export what it holds"
        )
    ids = bank.problem_ids(run)
    if not ids:
        raise ExportError(f"run {run!r} has no valid problems to export")
    _require(fmt)
    if benchmark == "humaneval":
        try:
            benchmark = BenchmarkIndex.humaneval()
        except BenchmarkError as exc:
            raise ExportError(f"{exc} (or pass --no-decontam)") from exc
    # Started before the keys and the index exist (forked workers copy what they touch); one
    # page is not worth a pool.
    n = 1 if len(ids) <= PAGE else default_workers() if workers is None else workers
    with screening_pool(n, benchmark, dup_threshold) as pool:
        # The bank is read three times a page at a time (keys; records to screen; problems of
        # the rows in curriculum order) and only keys are held: memory does not grow with text.
        past_quota = set() if include_surplus else bank.quota_surplus(run)
        keys: list[RowKey] = []
        surplus: list[Exclusion] = []
        for start in range(0, len(ids), PAGE):
            for k in bank.problems_by_id(run, ids[start : start + PAGE], RowKey):
                if k.id in past_quota:
                    surplus.append(
                        Exclusion(k.id, "surplus", f"band {k.band} was full", k.pass_rate)
                    )
                else:
                    keys.append(k)
        ranged, off_range = in_keep_range(keys, keep_range)
        kept_ids: set[str] = set()
        dropped: list[Exclusion] = []
        # Each problem's features in the pool, then the decisions that depend on what was kept
        # before, here and in order.
        decision = Screen(dup_threshold, lineage_roots(ranged))
        records = _records(bank, run, [k.id for k in ranged])
        for feat in features(records, pool):
            why = decision.decide(feat)
            if why is None:
                kept_ids.add(feat.id)
            else:
                dropped.append(why)
        kept = [k for k in ranged if k.id in kept_ids]
        excluded = surplus + off_range + dropped
        if not kept:
            hints = []
            if surplus:
                hints.append(
                    f"{len(surplus)} past their band's quota; --include-surplus keeps them"
                )
            if off_range:
                hints.append(
                    f"{len(off_range)} outside the keep range; --include-unbanded keeps them"
                )
            hint = f" ({'; '.join(hints)})" if hints else ""
            raise ExportError(f"run {run!r}: all {len(ids)} problems were excluded{hint}")
        ranges = bands_from_config(config)
        steps = schedule(kept, schedule_name, bands=ranges, mix=mix, seed=seed)
        per_band = Counter(s.problem.band or "unbanded" for s in steps)
        per_stage = Counter(s.stage for s in steps)
        per_env = Counter(s.problem.environment for s in steps)
        result = ExportResult(
            run_id=run, out=out, format=fmt, schedule=schedule_name, rows=len(steps),
            bands={b: per_band[b] for b in band_order(kept, ranges) if per_band[b]},
            stages=list(per_stage.items()),
            excluded=excluded, decontaminated=benchmark is not None, config=config,
            keep_range=keep_range,
            run_status=status,
            environments=dict(per_env),
            provenance=provenance(bank, run, [s.problem for s in steps], config, command),
            include_surplus=include_surplus,
        )  # fmt: skip
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.tmp-"))
        try:
            pages = _pages(bank, run, steps, system_prompt, fmt, pool)
            write_rows(pages, list(per_stage), tmp, fmt, _schema() if fmt != "jsonl" else None)
            (tmp / "README.md").write_text(dataset_card(result), encoding="utf-8")
            (tmp / "export.json").write_text(
                json.dumps(summary(result), indent=2), encoding="utf-8"
            )
            (tmp / RUN_CONFIG_FILE).write_text(json.dumps(config, indent=2), encoding="utf-8")
            if calls:  # every model request of the run, as the bank's model_calls holds them
                with (tmp / CALLS_FILE).open("w", encoding="utf-8") as f:
                    for call in bank.calls(run):
                        f.write(call.model_dump_json() + "\n")
            _replace_dir(tmp, out, force)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return result
