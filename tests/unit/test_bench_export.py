"""The export benchmark runs end to end at a tiny size: it writes its bank and measures each
command in a child process (figures are printed, never asserted)."""

from __future__ import annotations

from pathlib import Path

from stepstones.evals.bench_export import main


def test_the_benchmark_writes_its_bank_and_measures_each_command(tmp_path: Path) -> None:
    results = main(["--sizes", "12", "--formats", "jsonl", "--banks", str(tmp_path)])
    assert (tmp_path / "bank-12.sqlite").is_file()
    assert [(n, m.label) for n, m in results] == [
        (12, "export --format jsonl"),
        (12, "report --format html"),
    ]
    assert all(m.cpu_s > 0 and m.peak_rss_mib > 0 for _, m in results)
