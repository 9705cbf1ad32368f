"""Experiments and the report page on a small real run: what each writes, and that it is right.

One small offline run (quota 2, a few teacher calls) is shared by the report, dynamics and
export-based pass@k tests, so the whole file stays within seconds.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
from click.testing import Result
from typer.testing import CliRunner

from stepstones.commands import report as report_command
from stepstones.evals import dynamics, passk, yield_experiment
from stepstones.graphs.bands import default_bands
from stepstones.graphs.context import Budget, RunContext
from stepstones.runner import run_pipeline
from stepstones.tools.sandbox.base import Sandbox
from stepstones.tools.store import Bank
from tests.conftest import needs_bwrap

SMALL = RunContext(
    students=["sim:novice", "sim:expert"],
    samples=2,
    bands=default_bands(2),
    budget=Budget(max_teacher_calls=8),
    concurrency=2,
)
REPORT_SECTIONS = [
    "Summary",
    "Bands vs quota",
    "Pass rates per band",
    "Pass rates per student",
    "Yield per turn",
    "Rejections by reason",
    "Usage and tokens",
    "Lineages",
    "Stepping-stone trees",
    "Example chains of stepping stones",
]


def stepstones(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "stepstones", *args], capture_output=True, text=True, timeout=120
    )


def report_cli(*args: str) -> Result:
    """`stepstones report ...` in process (a subprocess costs seconds of imports per call)."""
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """Keep `report` a subcommand, as in the real CLI."""

    report_command.register(app)
    return CliRunner().invoke(app, ["report", *args])


@pytest.fixture(scope="module")
def small_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A finished small offline run: (bank path, run id)."""
    from tests.conftest import bwrap_available

    if not bwrap_available():
        pytest.skip("the local sandbox needs bubblewrap: apt-get install bubblewrap")
    out = tmp_path_factory.mktemp("run")
    result = asyncio.run(run_pipeline(SMALL, out, run_id="small"))
    return out / "bank.sqlite", result.run_id


@needs_bwrap
def test_yield_experiment_writes_table_and_plot(tmp_path: Path) -> None:
    result = yield_experiment.run_experiment(SMALL, tmp_path, [0], quota=2, budget=3)
    for name in ("yield.md", "yield.csv", "yield.json", "runs.csv", "yield.png"):
        assert (tmp_path / name).stat().st_size > 0, name
    assert (tmp_path / "yield.png").read_bytes()[:4] == b"\x89PNG"
    modes = [r["mode"] for r in result["rows"]]
    assert modes == ["single-turn", "multi-turn"]
    for row in result["rows"]:
        assert row["teacher_calls"] >= 3
        assert row["banded_per_call"] == pytest.approx(row["banded"] / row["teacher_calls"])
        assert row["viable"] <= row["valid"]
        assert row["viable_per_call"] == pytest.approx(row["viable"] / row["teacher_calls"])
    table = (tmp_path / "yield.md").read_text()
    assert "single-turn" in table and "multi-turn" in table and "±" in table
    assert "viable (0.01-0.97) / call" in table
    assert json.loads((tmp_path / "yield.json").read_text())["machine"]["nproc"] >= 1


def test_viable_counts_the_papers_keep_range_inclusive() -> None:
    assert yield_experiment.viable_count([0.0, 0.01, 0.5, 0.97, 0.98, 1.0, None]) == 3


def test_the_yield_experiment_runs_once_per_environment_into_scratch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[Path, dict[str, float]]] = []

    def fake(ctx: Any, out: Path, *args: Any, **kw: Any) -> dict[str, Any]:
        seen.append((out, ctx.environments))
        out.mkdir(parents=True)
        (out / "yield.md").write_text("table")
        return {"machine": "m"}

    monkeypatch.setattr(yield_experiment, "run_experiment", fake)
    monkeypatch.chdir(tmp_path)
    assert yield_experiment.main(["--environments", "code,deduction", "--seeds", "0"]) == 0
    base = Path("stepstones-out/experiments/yield")  # scratch, never docs/ by default
    assert seen == [(base / "code", {"code": 1.0}), (base / "deduction", {"deduction": 1.0})]
    assert yield_experiment.main(["--environments", "code,sonnets"]) == 2


def test_spread_is_mean_and_sample_sd() -> None:
    assert yield_experiment.spread([1.0, 3.0]) == (2.0, pytest.approx(2**0.5))
    assert yield_experiment.spread([5.0]) == (5.0, 0.0)


def test_report_command_writes_html_with_every_section_and_embedded_images(
    small_run: tuple[Path, str], tmp_path: Path
) -> None:
    bank, run_id = small_run
    out = tmp_path / "report.html"
    done = stepstones("report", "--run", run_id, "--bank", str(bank), "--out", str(out))
    assert done.returncode == 0, done.stderr
    page = out.read_text()
    for section in REPORT_SECTIONS:
        assert f"<h2>{section}</h2>" in page, section
    assert "pass rate" in page and run_id in page
    assert page.count("data:image/png;base64,") >= 3
    assert not list(tmp_path.glob("*.png"))


def test_report_markdown_puts_images_beside_the_page(
    small_run: tuple[Path, str], tmp_path: Path
) -> None:
    bank, run_id = small_run
    out = tmp_path / "page.md"
    done = report_cli("--bank", str(bank), "--format", "md", "--out", str(out))  # newest run
    assert done.exit_code == 0, done.output
    page = out.read_text()
    for section in REPORT_SECTIONS:
        assert f"## {section}" in page, section
    assert run_id in page
    images = list((tmp_path / "page_files").glob("*.png"))
    assert len(images) >= 3
    assert all(f"page_files/{img.name}" in page for img in images)


def test_report_errors_are_one_line_and_exit_2(small_run: tuple[Path, str], tmp_path: Path) -> None:
    bank, _ = small_run
    for args in (
        ["--bank", str(tmp_path / "missing.sqlite")],
        ["--bank", str(bank), "--run", "no-such-run"],
        ["--bank", str(bank), "--format", "pdf"],
    ):
        done = report_cli("--out", str(tmp_path / "r.html"), *args)
        assert done.exit_code == 2, args
        assert done.output.strip().startswith("error:"), done.output
        assert len(done.output.strip().splitlines()) == 1, done.output
    assert not (tmp_path / "r.html").exists()


def test_dynamics_tables_agree_with_the_bank(small_run: tuple[Path, str], tmp_path: Path) -> None:
    bank_path, run_id = small_run
    bank = Bank(bank_path)
    try:
        result = dynamics.analyse(bank, run_id, tmp_path)
        turns = bank.turns(run_id)
    finally:
        bank.close()
    assert sum(r["turns"] for r in result["turns"]) == len(turns)
    assert sum(d["lineages"] for d in result["lineages"]) == len({t.lineage_id for t in turns})
    assert sum(d["turns"] for d in result["directions"]) == len(turns)
    for name in ("band_fill.png", "turns.png", "lineages.png", "turns.md", "directions.csv"):
        assert (tmp_path / name).stat().st_size > 0, name


def test_humaneval_loader_has_all_164_problems() -> None:
    items = passk.load_humaneval()
    assert len(items) == 164
    assert items[0].task_id == "HumanEval/0"
    assert all(i.test and i.problem.entry_point in i.problem.reference_solution for i in items)
    assert len(passk.load_humaneval(limit=5)) == 5


@needs_bwrap
async def test_humaneval_canonical_passes_and_wrong_fails(sandbox: Sandbox) -> None:
    item = passk.load_humaneval(limit=3)[2]  # truncate_number: return number % 1.0
    canonical = item.problem.reference_solution
    wrong = canonical.replace("% 1.0", "// 1.0")
    assert wrong != canonical
    completion = canonical[len(item.prompt) :]
    subs = [item.submission(code) for code in (canonical, completion, wrong, "print(")]
    verdicts = await sandbox.run(subs)
    assert [v.status for v in verdicts[:2]] == ["passed", "passed"]
    # a failed assert is a wrong answer (not a crash), and says which assert failed
    assert verdicts[2].status == "wrong_answer" and "AssertionError" in (verdicts[2].error or "")
    assert verdicts[3].status == "runtime_error"
    noisy = item.submission("print('chatty')\n" + canonical)
    assert (await sandbox.run([noisy]))[0].ok  # prints are not failures


def test_pass_at_k_on_an_exported_run(small_run: tuple[Path, str], tmp_path: Path) -> None:
    from stepstones.tools.export import export_run

    bank_path, run_id = small_run
    bank = Bank(bank_path)
    try:
        export_run(bank, tmp_path / "data", run_id=run_id, benchmark=None)
    finally:
        bank.close()
    name, items = passk.load_dataset(str(tmp_path / "data" / "train.jsonl"), limit=3)
    assert name == "train" and items
    result = asyncio.run(passk.evaluate(["sim:expert", "sim:novice"], items, 3))
    assert not result["excluded"]
    rows = passk.table(result["per_problem"], ["sim:expert", "sim:novice"], [1, 3], name)
    assert [r["problems"] for r in rows] == [len(items), len(items)]
    assert rows[0]["kind"].startswith("simulated")
    assert 0.0 <= rows[1]["pass@1"] <= rows[1]["pass@3"] <= 1.0


def test_passk_cli_refuses_k_above_samples(tmp_path: Path) -> None:
    code = passk.main(["--students", "sim:expert", "-k", "5", "--samples", "2",
                       "--out", str(tmp_path)])  # fmt: skip
    assert code == 2
    assert not list(tmp_path.iterdir())
