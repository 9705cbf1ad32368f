"""The uninterrupted offline run that the crash and fault tests compare their banks with."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.fakes import bank_turns, start_run

ARGS = ["--quota", "3", "--seed", "7", "--quiet"]
"""A small deterministic offline run (about 26 turns)."""


def bank_contents(out: Path) -> dict[str, Any]:
    """What must be equal between two runs of ARGS: valid problems and attempt statuses."""
    with sqlite3.connect(out / "bank.sqlite") as db:
        problems = db.execute("select id, valid from problems").fetchall()
        # Status, not the count of tests passed: a timeout's count is how far the program got
        # before the limit, which depends on the machine's load at that moment.
        attempts = db.execute("select id, problem_id, status from attempts").fetchall()
        n_attempts = db.execute("select count(*) from attempts").fetchone()[0]
    return {"problems": sorted(problems), "attempts": sorted(attempts), "rows": n_attempts}


@pytest.fixture(scope="session")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One uninterrupted run of ARGS: its bank contents, report, turn count and directory."""
    out = tmp_path_factory.mktemp("baseline")
    proc = start_run("--out", str(out), "--run-id", "base", *ARGS)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-2000:]
    report = json.loads((out / "report.json").read_text())
    return {"contents": bank_contents(out), "report": report, "turns": bank_turns(out), "out": out}
