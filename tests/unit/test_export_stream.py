"""The export holds each band's quota unless asked (issue 17) and streams its rows (issue 19):
what it writes page by page is what one in-memory table of every row gave before."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from stepstones.evals.bank_fixture import RUN_ID, write_bank
from stepstones.tools import export as export_module
from stepstones.tools.export import (
    KEEP_RANGE,
    arrow_schema,
    export_run,
    in_keep_range,
    screen,
    to_record,
)
from stepstones.tools.quotas import split_quota
from stepstones.tools.schedule import ScheduleName, bands_from_config, schedule
from stepstones.tools.store import Bank


@pytest.fixture(scope="module")
def bank_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """90 banked problems, half of each band past its quota."""
    return write_bank(tmp_path_factory.mktemp("fixture") / "bank.sqlite", 90, surplus=0.5)


@pytest.fixture
def bank(bank_path: Path) -> Iterator[Bank]:
    b = Bank(bank_path)
    yield b
    b.close()


def quotas(bank: Bank) -> dict[str, int]:
    config = json.loads((bank.get_run(RUN_ID) or {})["config"])
    return {b["name"]: b["quota"] for b in config["bands"]}


def rows_of(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_the_export_holds_each_bands_quota_unless_asked_for_the_surplus(
    bank: Bank, tmp_path: Path
) -> None:
    held, over = split_quota(bank.turns(RUN_ID), quotas(bank))
    assert held == Counter(quotas(bank))  # every band filled its quota
    assert {o.band for o in over} == {"hard", "medium", "easy"}  # and overshot it
    result = export_run(bank, tmp_path / "q", benchmark=None)
    written = Counter(r["band"] for r in rows_of(tmp_path / "q" / "train.jsonl"))
    assert written == Counter(quotas(bank))  # exactly the quota in each band
    assert result.bands == dict(written) and result.rows == sum(written.values())
    surplus = bank.quota_surplus(RUN_ID)
    assert {e.id for e in result.excluded if e.reason == "surplus"} == surplus

    everything = export_run(bank, tmp_path / "all", benchmark=None, include_surplus=True)
    written_all = Counter(r["band"] for r in rows_of(tmp_path / "all" / "train.jsonl"))
    assert written_all == held + Counter(o.band for o in over)  # quota + surplus per band
    assert everything.rows == 90 and not everything.excluded

    card = (tmp_path / "q" / "README.md").read_text()
    for band, n in written.items():
        assert f"| {band} | {n} |" in card
    assert f"{len(surplus)} valid problems that landed in a band already full" in card
    assert "`--include-surplus` exports them" in card
    assert f"Left out: {len(surplus)} past their band's quota" in card
    meta = json.loads((tmp_path / "q" / "export.json").read_text())
    assert meta["rows"] == sum(written.values()) and meta["bands"] == dict(written)
    assert meta["excluded"]["surplus"] == len(surplus) and meta["include_surplus"] is False
    card_all = (tmp_path / "all" / "README.md").read_text()
    assert "those past their band's quota too (exported with --include-surplus)" in card_all


def test_the_cli_leaves_the_surplus_out_and_includes_it_with_the_flag(
    bank_path: Path, tmp_path: Path
) -> None:
    from stepstones.cli import _register_commands, app

    _register_commands()
    runner = CliRunner()
    base = ["export", "--bank", str(bank_path), "--no-decontam"]
    done = runner.invoke(app, [*base, "--out", str(tmp_path / "a")])
    assert done.exit_code == 0, done.output
    assert "45 rows" in done.output and "45 past the quota" in done.output
    done = runner.invoke(app, [*base, "--out", str(tmp_path / "b"), "--include-surplus"])
    assert done.exit_code == 0, done.output
    assert "90 rows" in done.output and "0 past the quota" in done.output


def reference_rows(
    bank: Bank,
    name: ScheduleName,
    mix: dict[str, float] | None,
    include_surplus: bool,
    run: str = RUN_ID,
) -> list[dict[str, Any]]:
    """The rows as the export built them before it streamed: every problem in memory."""
    config = json.loads((bank.get_run(run) or {})["config"])
    problems = list(bank.problems(run, surplus=include_surplus))
    ranged, _ = in_keep_range(problems, KEEP_RANGE)
    kept, _ = screen(ranged, None, 0.8)
    steps = schedule(kept, name, bands=bands_from_config(config), mix=mix, seed=0)
    return [to_record(s.problem, s, system=True) for s in steps]


CASES: list[tuple[ScheduleName, dict[str, float] | None, bool]] = [
    ("medium_first", None, False),
    ("lineage", None, True),
    ("mix", {"hard": 0.6, "easy": 0.4}, False),  # a mixture repeats rows of its smaller band
]


@pytest.mark.parametrize(("name", "mix", "surplus"), CASES)
def test_streamed_jsonl_is_byte_identical_to_the_in_memory_export(
    bank: Bank,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    name: ScheduleName,
    mix: dict[str, float] | None,
    surplus: bool,
) -> None:
    monkeypatch.setattr(export_module, "PAGE", 7)  # many pages, a stage across pages
    rows = reference_rows(bank, name, mix, surplus)
    export_run(bank, tmp_path / "s", benchmark=None, schedule_name=name, mix=mix,
               include_surplus=surplus)  # fmt: skip
    expected = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    assert (tmp_path / "s" / "train.jsonl").read_text(encoding="utf-8") == expected
    stages: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        stages.setdefault(r["stage"], []).append(r)
    parts = list(stages.values()) if len(stages) > 1 else []  # one stage: no stages/ folder
    files = sorted((tmp_path / "s" / "stages").glob("*.jsonl"))
    assert (tmp_path / "s" / "stages").exists() == bool(parts)
    for path, part in zip(files, parts, strict=True):
        assert path.read_text(encoding="utf-8") == "".join(
            json.dumps(r, ensure_ascii=False) + "\n" for r in part
        )


def test_streamed_parquet_and_hf_hold_the_in_memory_exports_rows(
    bank: Bank, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import datasets
    import pyarrow as pa
    import pyarrow.parquet as pq

    monkeypatch.setattr(export_module, "PAGE", 7)
    rows = reference_rows(bank, "medium_first", None, False)
    schema = arrow_schema()
    expected = pa.Table.from_pylist(rows, schema=schema)
    export_run(bank, tmp_path / "p", benchmark=None, fmt="parquet")
    table = pq.read_table(tmp_path / "p" / "train.parquet")
    assert table.schema.equals(schema) and table.to_pylist() == expected.to_pylist()
    assert pq.ParquetFile(tmp_path / "p" / "train.parquet").num_row_groups > 1  # streamed
    medium = pq.read_table(tmp_path / "p" / "stages" / "stage_00_medium.parquet").to_pylist()
    assert medium == [r for r in expected.to_pylist() if r["stage"] == "medium"]

    export_run(bank, tmp_path / "h", benchmark=None, fmt="hf")
    saved = datasets.load_from_disk(str(tmp_path / "h"))
    features = datasets.Features.from_arrow_schema(schema)
    reference = datasets.Dataset.from_list(rows, features=features)
    assert list(saved) == ["train", "stage_00_medium", "stage_01_hard", "stage_02_easy"]
    assert saved["train"].features == reference.features
    assert saved["train"].to_list() == reference.to_list()
    assert saved["stage_02_easy"].to_list() == [r for r in reference.to_list()
                                               if r["stage"] == "easy"]  # fmt: skip
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging left


def test_streamed_screening_leaves_out_what_the_in_memory_screen_did(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.unit.test_export import BANDS, make_problem

    monkeypatch.setattr(export_module, "PAGE", 2)
    bank = Bank(tmp_path / "bank.sqlite")
    bank.start_run("r", {"bands": BANDS})
    seed = make_problem(1, "easy", 0.9)
    problems = [
        seed,
        make_problem(2, "medium", 0.5, root=seed.id, parent=seed.id, turn=1),
        make_problem(4, "easy", 0.8),
        make_problem(5, "hard", 0.0),  # outside the keep range
        make_problem(7, "easy", 0.7, statement=make_problem(4, "easy", 0.8).statement,
                     reference="def solve(value):\n    return value + 4\n"),  # near-duplicate
        make_problem(6, "medium", 0.4),
    ]  # fmt: skip
    for p in problems:
        bank.put_problem("r", p.lineage.root_id or p.id, p, valid=True)
    bank.finish_run("r", "finished", {})
    result = export_run(bank, tmp_path / "s", benchmark=None)
    assert sorted(e.reason for e in result.excluded) == ["duplicate", "out_of_range"]
    rows = reference_rows(bank, "medium_first", None, False, run="r")
    expected = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    assert (tmp_path / "s" / "train.jsonl").read_text(encoding="utf-8") == expected


def test_a_run_of_surplus_only_says_how_to_export_it(tmp_path: Path) -> None:
    bank = Bank(write_bank(tmp_path / "bank.sqlite", 6))
    config = json.loads((bank.get_run(RUN_ID) or {})["config"])
    for b in config["bands"]:
        b["quota"] = 0
    bank.db.table("runs").update(RUN_ID, {"config": json.dumps(config)})
    with pytest.raises(export_module.ExportError, match="--include-surplus keeps them"):
        export_run(bank, tmp_path / "none", benchmark=None)
    assert export_run(bank, tmp_path / "all", benchmark=None, include_surplus=True).rows == 6
