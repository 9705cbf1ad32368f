"""An offline run seeded with stdlib windows: the procedural teacher fills its bands from them,
and the bank keeps each seed's provenance."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import sqlite_utils

from tests.conftest import needs_bwrap


@needs_bwrap
def test_a_windows_seeded_procedural_run_fills_its_bands(tmp_path: Path) -> None:
    cfg = tmp_path / "windows.toml"
    cfg.write_text('[seeds]\nsource = "windows"\nwindow_lines = [25, 50]\n')
    out = tmp_path / "out"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "stepstones",
            "run",
            "--config",
            str(cfg),
            "--out",
            str(out),
            "--quota",
            "2",
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads((out / "report.json").read_text())
    assert report["stop_reason"] == "quotas_filled", report["bands"]
    db = sqlite_utils.Database(out / "bank.sqlite")
    seeds = {r["id"]: r for r in db["seeds"].rows}
    assert seeds and all(
        r["origin"] == "stdlib"
        and r["license"] == "PSF-2.0"
        and 25 <= r["last_line"] - r["first_line"] + 1 <= 50
        for r in seeds.values()
    )
    used = {r["seed_id"] for r in db.query("select distinct seed_id from problems")}
    assert used and used <= set(seeds)
