"""The human and machine sides of an export's record: the dataset card (README.md) and
export.json, with counts per band, stage and environment and what was left out and why."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import BaseModel, ConfigDict

from stepstones.tools.curricula import PRESET_SOURCE, PRESETS, preset
from stepstones.tools.schedule import UNBANDED, Ranked

if TYPE_CHECKING:
    from stepstones.tools.export import ExportResult
    from stepstones.tools.store import Bank

HISTOGRAM_BINS = 10
"""Equal-width pass-rate bins of the card's histogram (the last one includes 1.0)."""


class Counted(Ranked, Protocol):
    """What the card counts of an exported row: a `Problem`, or the exporter's key of one."""

    @property
    def environment(self) -> str: ...


@dataclass(frozen=True)
class SeedSource:
    """Seeds of one corpus behind the exported rows: its licence and how many rows came of it."""

    origin: str
    kind: str
    license: str | None
    seeds: int
    rows: int


@dataclass
class Provenance:
    """Where the exported rows came from: the card's per-band and per-environment counts,
    pass-rate histogram, samples, seeds and the command lines that made them."""

    cells: dict[str, dict[str, int]] = field(default_factory=dict)
    """band -> environment -> rows."""
    pass_rates: list[float] = field(default_factory=list)
    """The exported rows' pass rates (rows without one are not listed)."""
    samples: list[int] = field(default_factory=list)
    """Judged student samples behind each row's pass rate (rows whose summary the bank has)."""
    target_student: str | None = None
    students: list[str] = field(default_factory=list)
    seed_sources: list[SeedSource] = field(default_factory=list)
    unrecorded_seeds: int = 0
    """Rows whose seed the bank does not hold (a procedural family, or a bank too old)."""
    run_commands: list[str] = field(default_factory=list)
    export_command: str | None = None


SUMMARY_PAGE = 500
"""Performance summaries read at a time for the card's sample counts."""


class StudentSamples(BaseModel):
    """A student's sample count, as a performance summary records it (the rest skipped)."""

    model_config = ConfigDict(extra="ignore")

    student: str
    samples: int


class SampleCounts(BaseModel):
    """What the card reads of a performance summary: whose pass rate it is, and the samples."""

    model_config = ConfigDict(extra="ignore")

    target: str | None = None
    students: list[StudentSamples]


def provenance(
    bank: Bank,
    run_id: str,
    problems: Sequence[Counted],
    config: Mapping[str, Any],
    export_command: str | None = None,
) -> Provenance:
    """The card's provenance of `problems` (the exported rows) from the run's bank records."""
    cells: dict[str, Counter[str]] = defaultdict(Counter)
    for p in problems:
        cells[p.band or UNBANDED][p.environment] += 1
    target = config.get("target_student")
    samples = []
    for start in range(0, len(problems), SUMMARY_PAGE):
        page = problems[start : start + SUMMARY_PAGE]
        ids = list(dict.fromkeys(p.id for p in page))
        summaries = bank.summaries_by_problem(run_id, ids, SampleCounts)
        for p in page:
            summary = summaries.get(p.id)
            if summary is not None:
                samples.append(sum(s.samples for s in summary.students
                                   if summary.target in (None, s.student)))  # fmt: skip
    seeds = {s.id: s for s in bank.seeds(run_id)}
    used: dict[tuple[str, str, str | None], dict[str, set[str]]] = {}
    unrecorded = 0
    for p in problems:
        seed = seeds.get(p.lineage.seed_id or "")
        if seed is None:
            unrecorded += 1
            continue
        key = (seed.origin or seed.source.split(":", 1)[0], seed.kind, seed.license)
        entry = used.setdefault(key, {"seeds": set(), "rows": set()})
        entry["seeds"].add(seed.id)
        entry["rows"].add(p.id)
    sources = sorted(
        (
            SeedSource(origin, kind, lic, len(v["seeds"]), len(v["rows"]))
            for (origin, kind, lic), v in used.items()
        ),
        key=lambda s: (-s.rows, s.origin),
    )
    return Provenance(
        cells={b: dict(c) for b, c in cells.items()},
        pass_rates=[p.pass_rate for p in problems if p.pass_rate is not None],
        samples=samples, target_student=str(target) if target else None,
        students=[str(s) for s in config.get("students", [])],
        seed_sources=sources, unrecorded_seeds=unrecorded,
        run_commands=bank.run_commands(run_id), export_command=export_command,
    )  # fmt: skip


def histogram(rates: Sequence[float], bins: int = HISTOGRAM_BINS) -> list[tuple[float, float, int]]:
    """(lo, hi, rows) for equal-width bins over [0, 1]; 1.0 falls in the last bin."""
    counts = Counter(min(int(r * bins), bins - 1) for r in rates)
    return [(k / bins, (k + 1) / bins, counts[k]) for k in range(bins)]


def preset_table(bands: Sequence[str]) -> list[tuple[str, str]]:
    """Each shipped schedule preset over `bands` (easiest first) as shares of the RL steps."""
    names = [b for b in bands if b != UNBANDED]
    rows: list[tuple[str, str]] = []
    for name in PRESETS:
        total = 100 * max(1, len(names))
        if not names and name != "uniform":
            continue
        table = preset(name, total, names or ["all"]).table()
        parts = []
        for start, end, weights in table:
            stop = end + 1 if end is not None else total
            span = f"{start * 100 // total}-{stop * 100 // total}%"
            what = (
                "uniform over rows"
                if weights is None
                else ", ".join(f"{b} {w:g}" for b, w in weights.items())
            )
            parts.append(f"{span}: {what}")
        rows.append((name, "; ".join(parts)))
    return rows


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
        "environments": result.environments,
        "decontaminated": result.decontaminated,
        "keep_range": list(result.keep_range) if result.keep_range is not None else None,
        "include_surplus": result.include_surplus,
        "excluded": {
            "surplus": reasons["surplus"],
            "out_of_range": reasons["out_of_range"],
            "contaminated": reasons["contaminated"],
            "duplicate": reasons["duplicate"],
        },
        "exclusions": [e.__dict__ for e in result.excluded],
        "provenance": asdict(result.provenance) if result.provenance is not None else None,
        "run_config": result.config,
    }


def _cells_table(cells: Mapping[str, Mapping[str, int]], bands: Sequence[str]) -> str:
    envs = sorted({e for per in cells.values() for e in per})
    head = "| band | " + " | ".join(envs) + " | rows |\n|---|" + "---|" * (len(envs) + 1)
    order = [b for b in bands if b in cells] + [b for b in cells if b not in bands]
    lines = [
        f"| {b} | "
        + " | ".join(str(cells[b].get(e, 0)) for e in envs)
        + f" | {sum(cells[b].values())} |"
        for b in order
    ]
    return "\n".join([head, *lines])


def _histogram_section(prov: Provenance) -> str:
    rows = [f"| {lo:.1f}-{hi:.1f} | {n} | {'#' * n} |" for lo, hi, n in histogram(prov.pass_rates)]
    whose = (
        f"the target student `{prov.target_student}`'s"
        if prov.target_student
        else "pooled over every student (no target student)"
    )
    if prov.samples:
        lo, hi, total = min(prov.samples), max(prov.samples), sum(prov.samples)
        samples = (
            f"{lo} to {hi} judged samples per problem ({total} in all, over "
            f"{len(prov.samples)} rows)"
            if lo != hi
            else f"{lo} judged samples per problem ({total} in all, over {len(prov.samples)} rows)"
        )
    else:
        samples = "sample counts not recorded in the bank"
    students = ", ".join(prov.students) or "?"
    return (
        f"Pass rates are {whose}, from {samples}; students: {students}.\n\n"
        "| pass rate | rows | |\n|---|---|---|\n" + "\n".join(rows)
    )


def _seeds_section(prov: Provenance) -> str:
    lines = [
        f"| {s.origin} | {s.kind} | {s.license or 'not recorded'} | {s.seeds} | {s.rows} |"
        for s in prov.seed_sources
    ]
    table = "| source | kind | licence | seeds | rows |\n|---|---|---|---|---|\n" + "\n".join(lines)
    note = (
        f"\n\n{prov.unrecorded_seeds} rows have a seed the bank does not hold (its "
        "provenance was not recorded)."
        if prov.unrecorded_seeds
        else ""
    )
    return table + note


def _schedules_section(bands: Sequence[str]) -> str:
    rows = "\n".join(f"| `{name}` | {phases} |" for name, phases in preset_table(bands))
    return f"""Samplers in `stepstones.tools.curricula` that draw rows by band as RL training
goes on: `CurriculumSampler(dataset["band"], preset(NAME, total_steps), rows_per_step=B)`, as a
torch sampler `as_torch_sampler(sampler, repeat=num_generations)`; `PassRateController` instead
steers towards a target pass rate. The presets over this export's bands (shares of the RL steps):

| preset | phases |
|---|---|
{rows}

The presets' numbers are {PRESET_SOURCE}."""


def _commands_section(result: ExportResult) -> str:
    prov = result.provenance
    runs = prov.run_commands if prov is not None else []
    run = (
        "\n".join(runs)
        if runs
        else "# not recorded: the run was started from Python or Studio, or by an older stepstones"
    )
    export = (
        prov.export_command
        if prov is not None and prov.export_command
        else "# exported from Python: stepstones.tools.export.export_run(...)"
    )
    return f"""```bash
{run}
{export}
```

`run_config.json` is the run's whole resolved config (every default included), as the bank
stored it: `stepstones run --config run_config.json --out DIR` runs with the same config."""


_FIELDS = """\
| column | meaning |
|---|---|
| `prompt` | chat messages [{role, content}]: the student's task prompt of its environment |
| `data_source`, `ability` | `stepstones`, `code` (verl routes rewards by data_source) |
| `reward_model` | {style: rule, ground_truth: JSON: tests..time_limit_s, + environment..program} |
| `extra_info` | id, environment, index, title, band, pass_rate, pass_rates (JSON), family, ... |
| `id`, `environment` | content-hash id; code, induction, abduction, deduction or fuzzing |
| `title`, `statement` | the problem |
| `band`, `pass_rate` | difficulty band; mean pass rate over all student samples |
| `tests` | JSON list of {input, expected}, expected by execution; input a JSON argument array |
| `entry_point`, `io_style`, `time_limit_s` | how tests call a solution; CPU seconds per run |
| `spec`, `program` | environment JSON (e.g. pre_test); f where the judge runs it on an answer |
| `reference_solution` | the teacher's program (never in the prompt where the student writes it) |
| `curriculum_index`, `stage` | position in the schedule and its stage |
"""


def dataset_card(result: ExportResult) -> str:
    """The README.md written beside the data: fields, counts, exclusions and how it was made."""
    ext = {"jsonl": "train.jsonl", "parquet": "train.parquet", "hf": "train/*.arrow"}[result.format]
    reasons = Counter(e.reason for e in result.excluded)
    cfg = result.config
    students = ", ".join(map(str, cfg.get("students", []))) or "?"
    bands = "\n".join(f"| {name} | {n} |" for name, n in result.bands.items())
    envs = "\n".join(f"| {name} | {n} |" for name, n in result.environments.items())
    stages = "\n".join(f"| {k} | {name} | {n} |" for k, (name, n) in enumerate(result.stages))
    if result.keep_range is None:
        kept = "every pass rate (exported with --include-unbanded)"
    else:
        lo, hi = result.keep_range
        kept = (
            f"pass rates {lo:g} <= p <= {hi:g} only: {reasons['out_of_range']} problems "
            "outside it (nearly no or nearly every sample passed, no learning signal) stay "
            "in the bank, not here (`--include-unbanded` exports them)"
        )
    left = (
        f"{reasons['surplus']} past their band's quota, {reasons['out_of_range']} outside the "
        f"keep range, {reasons['contaminated']} contaminated, {reasons['duplicate']} "
        "near-duplicates"
    )
    quota = (
        "every valid problem of the run, those past their band's quota too (exported with "
        "--include-surplus)"
        if result.include_surplus
        else f"each band's quota: {reasons['surplus']} valid problems that landed in a band "
        "already full stay in the bank, not here (`--include-surplus` exports them)"
    )
    partial = (
        ""
        if result.run_status == "finished"
        else f"\n**Partial:** exported with --partial while the run was {result.run_status}; "
        "it may have banked more since.\n"
    )
    verl_files = (
        "train.parquet (export with --format parquet: verl reads Parquet or JSON files)"
        if result.format == "hf"
        else ext
    )
    prov = result.provenance
    extra = (
        ""
        if prov is None
        else f"""## Counts per band and environment

{_cells_table(prov.cells, list(result.bands))}

## Pass rates

{_histogram_section(prov)}

## Seed sources

{_seeds_section(prov)}

## Curriculum samplers

{_schedules_section(list(result.bands))}

## Commands

{_commands_section(result)}

"""
    )
    decontam = (
        "HumanEval n-gram decontamination (13-word and normalised 10-token code n-grams)"
        if result.decontaminated
        else "**not decontaminated** (exported with --no-decontam)"
    )
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
Each row names its environment; every environment's rows are scored by execution.

## How it was made

stepstones ran a teacher ({cfg.get("teacher", "?")}) that writes problems, a critic that runs
each reference against its tests and rejects weak, leaking or duplicate problems, and students
({students}; {cfg.get("samples", "?")} samples each) whose pass rates place every problem in a
band. Seed {cfg.get("seed", "?")}.
Exported with {quota}; {kept}; {decontam}, then MinHash near-duplicate removal within the
bank.

Left out: {left} (ids in `export.json`).

## Counts per band

| band | rows |
|---|---|
{bands}

## Counts per environment

| environment | rows |
|---|---|
{envs}

{extra}## Stages (`{result.schedule}`)

| # | stage | rows |
|---|---|---|
{stages}

## Fields

{_FIELDS}
## Use

verl: `data.train_files={verl_files}` and
`reward.custom_reward_function.path=pkg://stepstones.tools.reward` (or the file
`<site-packages>/stepstones/tools/reward.py`), `reward.custom_reward_function.name=compute_score`.
TRL: `GRPOTrainer(reward_funcs=reward_fn, ...)`
with `from stepstones.tools.reward import reward_fn`. Rewards run completions in the same
sandbox that measured the pass rates.
"""
