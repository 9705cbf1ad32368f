"""The dedup benchmark runs at a tiny size: it builds its bank, checks every lookup against a
brute-force scan and prints one row per size with the machine."""

from __future__ import annotations

import pytest

from stepstones.evals.bench_dedup import main


def test_bench_dedup_runs_at_a_tiny_size(capsys: pytest.CaptureFixture[str]) -> None:
    results = main(["--sizes", "40,80", "--queries", "5"])
    assert [r.size for r in results] == [40, 80]
    for r in results:
        for look in (r.fresh, r.copies):
            assert look.median_ms > 0 and look.scored <= look.sharing_a_band
            # Signing a new draft (a MinHash over its shingles) costs more than the lookup.
            assert look.signed_mean_ms > look.mean_ms
        assert r.copies.hits >= 1  # a near-copy of a banked text is found
    out = capsys.readouterr().out
    assert "brute-force" in out and "nproc=" in out
    # Two kinds of draft per size, then `recent` per size.
    assert len([line for line in out.splitlines() if line.split()[:1] in (["40"], ["80"])]) == 6
