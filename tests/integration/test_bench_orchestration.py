"""The orchestration benchmark runs end to end and prints its figures (timings are not judged)."""

from __future__ import annotations

import re

import pytest

from stepstones.evals import bench_orchestration


def test_the_benchmark_runs_every_setting_and_prints_a_figure_for_each(
    capsys: pytest.CaptureFixture[str],
) -> None:
    bench_orchestration.main(["--turns", "24", "--concurrency", "4", "--repeat", "1"])
    lines = [
        line for line in capsys.readouterr().out.splitlines() if line.startswith("checkpointer=")
    ]
    # memory / SQLite, per-turn / per-step checkpoints, students with n / one call per sample
    assert len(lines) == 8
    assert sum("checkpoints=step" in line for line in lines) == 4
    for line in lines:
        assert "turns=  24" in line
        assert re.search(r"median +\d+\.\d+ ms", line)
        assert re.search(r"in gc \d+\.\d+ ms", line)
    sqlite = [line for line in lines if line.startswith("checkpointer=sqlite")]
    assert all(re.search(r"checkpoints \d+\.\d KB/turn", line) for line in sqlite)
