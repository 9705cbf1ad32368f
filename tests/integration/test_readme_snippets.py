"""README code meant to run, run as pasted (issue 17: the From Python snippet used to be a
SyntaxError as a script)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import needs_bwrap

README = Path(__file__).resolve().parents[2] / "README.md"


def python_block(after: str) -> str:
    """The first ```python block after the heading `after`."""
    return README.read_text().split(after, 1)[1].split("```python\n", 1)[1].split("```", 1)[0]


@needs_bwrap
@pytest.mark.slow
def test_the_from_python_snippet_runs_as_a_script_and_streams_every_node(tmp_path: Path) -> None:
    script = tmp_path / "snippet.py"
    script.write_text(python_block("## From Python"))
    done = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-2000:]
    nodes = {line.strip() for line in done.stdout.splitlines()}
    assert {"['start_run']", "['schedule_turns']", "['run_turn']", "['finish_run']"} <= nodes
    assert (tmp_path / "out" / "bank.sqlite").is_file()
