"""The fork profile runs at a tiny size and prints every part with sane figures (the figures
themselves are not judged: they depend on the machine)."""

from __future__ import annotations

import re

from tests.conftest import run_eval

PARTS = ("fork + exit", "compile", "exec", "json", "run_job")
ROW = re.compile(
    r"^(?P<name>.+?) +wall +(?P<wall>\d+\.\d{3}) ms  child +(?P<child>\d+\.\d{3}) ms +"
    r"(?P<faults>\d+)  parent +(?P<parent>\d+\.\d{3}) ms +(?P<pfaults>\d+)$"
)


def test_the_profile_prints_each_part_with_cpu_and_faults() -> None:
    out = run_eval("profile_fork", "--forks", "30")
    rows = {m["name"]: m for line in out.splitlines() if (m := ROW.match(line))}
    assert tuple(rows) == PARTS, out
    for name, row in rows.items():
        assert float(row["wall"]) > 0 and float(row["child"]) > 0, (name, row.group(0))
        assert int(row["faults"]) > 0, (name, row.group(0))  # a forked child always faults
    # A whole job does more in its child than a child that only exits.
    assert int(rows["run_job"]["faults"]) > int(rows["fork + exit"]["faults"]), out
