"""Start-up stays light: `--help` and a user's mistake are answered before the heavy imports.

Issue 17 (item 8) and issue 19: validation used to run after LangGraph, langchain-core and
pandas (through sqlite_utils) were imported, so a bad flag took seconds to be reported. These
tests assert what a fresh interpreter has imported when the CLI answers, not how long it took:
a timed test would fail on a loaded machine and pass on a fast one for the wrong reasons.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = (
    "langgraph",
    "langchain_core",
    "langsmith",
    "langchain_openai",
    "pandas",
    "pyarrow",
    "datasets",
    "matplotlib",
)
"""Modules a `--help` or a rejected flag or config must not import."""

_PROBE = """
import json, sys
from stepstones import cli
heavy = json.loads(sys.argv[2])
try:
    sys.argv = ["stepstones", *json.loads(sys.argv[1])]
    cli.main()
    code = 0
except SystemExit as exc:
    code = exc.code
print(json.dumps({"code": code, "heavy": [m for m in heavy if m in sys.modules]}))
"""


def _start(args: list[str], cwd: Path) -> dict[str, object]:
    """Run the CLI in a fresh interpreter; its exit code and the heavy modules it imported."""
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(args), json.dumps(HEAVY)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    result: dict[str, object] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.parametrize("args", [["--help"], ["run", "--help"], ["export", "--help"]])
def test_help_imports_nothing_heavy(args: list[str], tmp_path: Path) -> None:
    assert _start(args, tmp_path) == {"code": 0, "heavy": []}


def test_a_bad_flag_is_reported_before_the_heavy_imports(tmp_path: Path) -> None:
    assert _start(["run", "--no-such-flag"], tmp_path) == {"code": 2, "heavy": []}


def test_a_bad_config_is_reported_before_the_heavy_imports(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('quotas = "x"\n')
    out = tmp_path / "out"
    assert _start(["run", "-c", str(config), "--out", str(out)], tmp_path) == {
        "code": 2,
        "heavy": [],
    }
    assert _start(["run", "--quota", "0", "--out", str(out)], tmp_path) == {"code": 2, "heavy": []}


def test_the_bank_does_not_import_pandas(tmp_path: Path) -> None:
    """sqlite_utils imports pandas when it is installed; a run never needs it (0.5 s, 68 MiB)."""
    pytest.importorskip("pandas")  # where pandas is absent the test would prove nothing
    probe = (
        "import sys; from stepstones.tools.store import Bank; import stepstones.runner; "
        "Bank(sys.argv[1]).close(); print(sorted({'pandas', 'pyarrow'} & set(sys.modules)))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe, str(tmp_path / "bank.sqlite")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
