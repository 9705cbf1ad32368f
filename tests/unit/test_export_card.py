"""The dataset card says where the rows came from: counts per band and environment, the
pass-rate histogram with its samples and target student, the schedule presets, the seed sources
and their licences, and the command lines and config that made the data."""

from __future__ import annotations

import json
import random
import sysconfig
from pathlib import Path

import pytest

from stepstones.graphs.context import load_context
from stepstones.tools.curricula import preset
from stepstones.tools.export import export_run
from stepstones.tools.export_card import histogram, preset_table
from stepstones.tools.schema import PerformanceSummary, Seed, StudentStats, TurnOutcome
from stepstones.tools.seeds import _functions, puzzle_seeds
from stepstones.tools.store import Bank
from tests.unit.test_export import BANDS, make_problem

SEEDS = [
    Seed(
        kind="code",
        source="stdlib:heapq.py:merge",
        text="def merge(): pass",
        origin="stdlib",
        license="PSF-2.0",
    ),
    Seed(kind="code", source="corpus/a.py:1-25", text="x = 1", origin="corpus"),
]


def test_histogram_bins_cover_zero_to_one_with_one_in_the_last_bin() -> None:
    bins = histogram([0.0, 0.05, 0.1, 0.5, 0.97, 1.0])
    assert len(bins) == 10 and bins[0] == (0.0, 0.1, 2)
    assert [n for _, _, n in bins] == [2, 1, 0, 0, 0, 1, 0, 0, 0, 2]


def test_preset_table_lists_every_shipped_schedule_in_its_own_order() -> None:
    rows = dict(preset_table(["easy", "medium", "hard"]))
    assert rows["uniform"] == "0-100%: uniform over rows"
    assert rows["medium_start"] == "0-33%: medium 1; 33-66%: hard 1; 66-100%: easy 1"
    for name in ("easy_to_hard", "hard_to_easy"):
        order = [next(iter(w)) for _, _, w in preset(name, 3, ["easy", "medium", "hard"]).table()
                 if w]  # fmt: skip
        assert [part.split(": ")[1].split()[0] for part in rows[name].split("; ")] == order


@pytest.fixture
def bank(tmp_path: Path) -> Bank:
    """A finished run: code rows in three bands from two seeds (one stdlib, one without a
    licence), one induction row, summaries with samples, a target student, two commands."""
    b = Bank(tmp_path / "bank.sqlite")
    config = {
        "bands": BANDS,
        "students": ["sim:novice", "sim:expert"],
        "samples": 4,
        "target_student": "sim:novice",
        "seed": 3,
    }
    b.start_run("r1", config)
    b.add_seeds("r1", SEEDS)
    problems = [
        make_problem(1, "easy", 0.9),
        make_problem(2, "medium", 0.5),
        make_problem(3, "hard", 0.2),
        make_problem(4, "hard", 0.25),
    ]
    problems[3] = problems[3].model_copy(update={"environment": "induction"})
    for k, p in enumerate(problems):
        seed = SEEDS[k % 2]
        p = p.model_copy(update={"lineage": p.lineage.model_copy(update={"seed_id": seed.id})})
        stats = [
            StudentStats(
                student="sim:novice",
                samples=4,
                passed=round(4 * p.pass_rate),
                pass_rate=p.pass_rate,
            ),
            StudentStats(student="sim:expert", samples=4, passed=4, pass_rate=1.0),
        ]
        summary = PerformanceSummary(
            problem_id=p.id, pass_rate=p.pass_rate, students=stats, target="sim:novice"
        )
        outcome = TurnOutcome(
            lineage_id=p.id,
            seed_id=seed.id,
            turn=0,
            direction="seed",
            teacher_calls=1,
            problem_id=p.id,
            valid=True,
        )
        assert b.put_turn_result("r1", p.id, p, [], summary, outcome) is None
    b.add_run_command("r1", "stepstones run --seed 3 --out o")
    b.add_run_command("r1", "stepstones run --out o --resume r1")
    b.finish_run("r1", "finished", {})
    return b


def test_the_card_gives_provenance_samples_presets_and_commands(bank: Bank, tmp_path: Path) -> None:
    out = tmp_path / "d"
    cmd = "stepstones export --bank b --out d --format parquet"
    export_run(bank, out, fmt="parquet", benchmark=None, command=cmd)
    card = (out / "README.md").read_text()
    assert "| band | code | induction | rows |" in card
    assert "| hard | 1 | 1 | 2 |" in card and "| easy | 1 | 0 | 1 |" in card
    # The histogram: the target student's pass rates, 4 samples each (the target's only).
    assert "the target student `sim:novice`'s, from 4 judged samples per problem (16 in all" in card
    assert "| 0.2-0.3 | 2 | ## |" in card and "| 0.9-1.0 | 1 | # |" in card
    assert "| `medium_start` | 0-33%: medium 1; 33-66%: hard 1; 66-100%: easy 1 |" in card
    assert "| stdlib | code | PSF-2.0 | 1 | 2 |" in card
    assert "| corpus | code | not recorded | 1 | 2 |" in card
    assert ("stepstones run --seed 3 --out o\nstepstones run --out o --resume r1\n" + cmd) in card

    machine = json.loads((out / "export.json").read_text())
    assert machine["provenance"]["target_student"] == "sim:novice"
    assert machine["provenance"]["samples"] == [4, 4, 4, 4]
    assert machine["run_config"]["target_student"] == "sim:novice"


def test_run_config_json_is_the_stored_config_and_loads_as_a_run_config(tmp_path: Path) -> None:
    cfg = json.loads(load_context(environ={}).model_dump_json())
    b = Bank(tmp_path / "bank.sqlite")
    b.start_run("r", cfg)
    b.put_problem("r", "l", make_problem(2, "medium", 0.5), valid=True)
    b.finish_run("r", "finished", {})
    export_run(b, tmp_path / "d", benchmark=None)
    written = tmp_path / "d" / "run_config.json"
    assert json.loads(written.read_text()) == cfg
    assert json.loads(load_context(written, environ={}).model_dump_json()) == cfg
    card = (tmp_path / "d" / "README.md").read_text()
    assert "# not recorded: the run was started from Python" in card
    assert "# exported from Python" in card
    assert "1 rows have a seed the bank does not hold" in card


def test_bundled_seeds_carry_their_origin_and_licence() -> None:
    fn = _functions(Path(sysconfig.get_paths()["stdlib"]) / "bisect.py", "bisect.py")[0]
    assert (fn.origin, fn.license) == ("stdlib", "PSF-2.0") and fn.path
    assert fn.first_line is not None and fn.last_line is not None
    assert fn.last_line - fn.first_line + 1 == len(fn.text.splitlines())
    assert {(s.origin, s.license) for s in puzzle_seeds(3, random.Random(0))} == {
        ("bundled puzzles", "Apache-2.0")
    }
