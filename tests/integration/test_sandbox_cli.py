"""`stepstones exec`: verdict JSON on stdout and exit codes 0 / 1 / 2."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from stepstones.commands import exec as exec_cmd

pytestmark = pytest.mark.skipif(
    shutil.which("bwrap") is None,
    reason="the local sandbox needs bubblewrap: apt-get install bubblewrap",
)

PROBLEM = {
    "statement": "Add two numbers.",
    "tests": [{"input": "[1, 2]", "expected": "3"}, {"input": "[5, 5]", "expected": "10"}],
    "reference_solution": "def solve(a, b):\n    return a + b",
    "lineage": {"seed_id": "s"},
}


def _app() -> typer.Typer:
    app = typer.Typer()
    app.callback()(lambda: None)  # keep `exec` a subcommand
    exec_cmd.register(app)
    return app


def _invoke(tmp_path: Path, code: str, problem: object = PROBLEM) -> tuple[int, str, str]:
    (tmp_path / "p.json").write_text(problem if isinstance(problem, str) else json.dumps(problem))
    (tmp_path / "s.py").write_text(code)
    result = CliRunner().invoke(
        _app(),
        ["exec", "--problem", str(tmp_path / "p.json"), "--solution", str(tmp_path / "s.py")],
    )
    return result.exit_code, result.stdout, result.stderr


def test_pass_prints_verdict_and_exits_0(tmp_path: Path) -> None:
    code, out, _ = _invoke(tmp_path, "def solve(a, b):\n    return a + b\n")
    verdict = json.loads(out)
    assert code == 0 and verdict["status"] == "passed" and verdict["passed"] == 2
    assert verdict["limits"]["cpu_time_s"] == 0.1  # calibrated: the floor, as the ref is cheap


def test_fail_exits_1(tmp_path: Path) -> None:
    code, out, _ = _invoke(tmp_path, "def solve(a, b):\n    return a - b\n")
    assert code == 1 and json.loads(out)["status"] == "wrong_answer"


@pytest.mark.parametrize("problem", ["{not json", json.dumps({"statement": "x"})])
def test_bad_problem_exits_2_with_one_line(tmp_path: Path, problem: str) -> None:
    code, out, err = _invoke(tmp_path, "def solve(a, b):\n    return 0\n", problem)
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
    assert err.startswith("error:")


def test_missing_file_exits_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        _app(),
        ["exec", "--problem", str(tmp_path / "none.json"), "--solution", str(tmp_path / "none.py")],
    )
    assert result.exit_code == 2 and "cannot read" in result.stderr
