"""The README's sample output is what `stepstones run` prints (issue 17: the README showed 8/8
bands and 44 teacher calls long after the default run stopped printing them).

The default run is seeded (seed 0), so only the random run id and the output folder may differ.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import needs_bwrap

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_sample() -> str:
    """The plain code block after "It prints a short summary:"."""
    after = README.read_text().split("It prints a short summary:", 1)[1]
    return after.split("```\n", 1)[1].split("```", 1)[0]


def normalise(summary: str, out: str) -> str:
    """The summary with its run id and its output folder replaced by placeholders."""
    summary = re.sub(r"^run [0-9a-f]{12} ", "run RUN_ID ", summary, flags=re.M)
    return summary.replace(f"{out}/", "OUT/")


def test_normalise_leaves_everything_but_the_run_id_and_the_folder() -> None:
    printed = "run 0123456789ab stopped: x\n  bank: /t/o/bank.sqlite  report: /t/o/report.json\n"
    assert normalise(printed, "/t/o") == (
        "run RUN_ID stopped: x\n  bank: OUT/bank.sqlite  report: OUT/report.json\n"
    )
    assert normalise("run 0123456789ab stopped: x\n  easy 8/8\n", "/t/o").endswith("easy 8/8\n")


@needs_bwrap
@pytest.mark.slow
def test_the_readme_sample_output_is_what_the_default_run_prints(tmp_path: Path) -> None:
    out = tmp_path / "out"
    env = {k: v for k, v in os.environ.items() if not k.startswith("STEPSTONES_")}
    done = subprocess.run(
        [sys.executable, "-m", "stepstones", "run", "--out", str(out)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert normalise(done.stdout, str(out)) == normalise(readme_sample(), "stepstones-out")
