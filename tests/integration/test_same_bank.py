"""The same seed gives the same bank, before and after a change to the graph's wiring.

`tests/data/same_bank_seed7.json` is the bank of `stepstones run --quota 3 --seed 7` with the
simulated students, written by the code before the graph became module-level nodes (issue 16).
A refactor that changes what a run produces fails here. A change that means to alter the bank
regenerates it on purpose, and says why in its commit:

    STEPSTONES_REGOLD=1 python -m pytest tests/integration/test_same_bank.py
"""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import needs_bwrap
from tests.fakes import start_run

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "same_bank_seed7.json"
ARGS = ["--quota", "3", "--seed", "7", "--run-id", "same", "--quiet"]


def bank(out: Path) -> dict[str, Any]:
    """Problems with band and pass rate, attempts with status, turns with their outcome."""
    with sqlite3.connect(out / "bank.sqlite") as db:
        problems = db.execute(
            "select id, valid, band, round(pass_rate, 6) from problems order by id"
        ).fetchall()
        attempts = db.execute(
            "select id, problem_id, student, status from attempts order by id"
        ).fetchall()
        turns = db.execute(
            "select lineage_id, turn, json_extract(record, '$.problem_id'), "
            "json_extract(record, '$.valid'), json_extract(record, '$.band') from turns "
            "order by lineage_id, turn"
        ).fetchall()
    return {"problems": problems, "attempts": attempts, "turns": turns}


@needs_bwrap
@pytest.mark.slow
def test_the_same_seed_gives_the_same_bank_as_before(tmp_path: Path) -> None:
    proc = start_run("--out", str(tmp_path / "run"), *ARGS)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-2000:]
    got = json.loads(json.dumps(bank(tmp_path / "run")))  # tuples as lists, like the file
    if os.environ.get("STEPSTONES_REGOLD"):
        GOLDEN.write_text(json.dumps(got, indent=0) + "\n")
    want = json.loads(GOLDEN.read_text())
    assert got["turns"] == want["turns"]
    assert got["problems"] == want["problems"]
    assert got["attempts"] == want["attempts"]
