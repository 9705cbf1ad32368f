"""The end-to-end benchmark runs at its tiniest size and prints figures in range (the figures
themselves are not judged: they depend on the machine)."""

from __future__ import annotations

import math
import re

from tests.conftest import needs_bwrap, run_eval

TINY = [
    *("--quota", "1", "--environments", "code,deduction", "--lineages", "2"),
    *("--samples", "2", "--decode-tps", "4000", "--prefill-tps", "1e6"),
]


def percent(pattern: str, text: str) -> float:
    found = re.search(pattern, text)
    assert found, (pattern, text)
    value = float(found.group(1))
    assert 0.0 <= value <= 100.0, (pattern, value)
    return value


@needs_bwrap
def test_the_benchmark_prints_its_figures_and_ends_with_the_busy_line() -> None:
    out = run_eval("bench_pipeline", *TINY)
    last = out.strip().splitlines()[-1]
    assert re.fullmatch(r"endpoint busy: \d{1,3}\.\d% of capacity", last), last
    busy = percent(r"endpoint busy: (\d+\.\d)%", last)
    assert busy > 0.0  # the run made requests, so some slot was busy some of the time
    tenths = re.search(r"busy by tenth of the window: ((?:\d+% ?){10})$", out, re.MULTILINE)
    assert tenths, out
    shares = [float(v.rstrip("%")) for v in tenths.group(1).split()]
    assert abs(sum(shares) / 10 - busy) <= 1.0, (shares, busy)  # they split the same time
    by_second = re.search(r"busy by second: ((?:\d+% ?)+)$", out, re.MULTILINE)
    assert by_second, out
    window = float(re.search(r"sequences over (\d+\.\d) s", out).group(1))  # type: ignore[union-attr]
    seconds = [float(v.rstrip("%")) for v in by_second.group(1).split()]
    assert len(seconds) == math.ceil(window - 0.05) or len(seconds) == math.ceil(window + 0.05)
    assert all(0 <= v <= 100.5 for v in seconds), seconds
    percent(r"at cap (\d+\.\d)% of the time", out)
    percent(r"empty (\d+\.\d)%", out)
    percent(r"= (\d+\.\d)% of wall time", out)
    assert "stop quotas_filled" in out, out
    assert "run: 2 lineages (flow)," in out, out  # the run as resolved, not the flags as given
    assert "run 1 (seed 0):" in out, out
    tokens = re.search(r"tokens per viable problem: teacher (\d+), student (\d+)", out)
    assert tokens and int(tokens.group(1)) > 0 and int(tokens.group(2)) > 0, out
    rates = re.search(r"sequences/s (\d+\.\d+) vs ideal (\d+\.\d+)", out)
    assert rates, out
    assert 0.0 < float(rates.group(1)) <= float(rates.group(2)) * 1.05, rates.group(0)
