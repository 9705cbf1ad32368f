"""The yield figures the prose states are the committed run's (issue 17: the README said the
simulation does not reproduce the paper's multi-turn yield while docs/experiments.md showed a
gain from an older run). Regenerating docs/experiments/yield without the prose fails here;
so does regenerating docs/experiments/dynamics without section 2's tables and run figures,
docs/experiments/yield-environments without section 1b's, or docs/experiments/presets without
section 5's table.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
PER_CALL = ("banded", "hard", "medium", "easy")


def committed_rows() -> dict[str, dict[str, Any]]:
    """docs/experiments/yield/yield.json's summary rows by mode."""
    data = json.loads((ROOT / "docs/experiments/yield/yield.json").read_text())
    return {row["mode"]: row for row in data["rows"]}


def section_one_table() -> dict[str, list[str]]:
    """The cells of docs/experiments.md's section 1 table, by mode, bold marks dropped."""
    text = (ROOT / "docs/experiments.md").read_text()
    section = text.split("## 1. Yield", 1)[1].split("\n### ", 1)[0]
    rows = [line.strip("|").split("|") for line in section.splitlines() if line.startswith("| ")]
    return {cells[0].strip(): [c.strip().strip("*") for c in cells[1:]] for cells in rows[1:]}


def test_the_section_one_table_is_the_committed_run() -> None:
    committed, table = committed_rows(), section_one_table()
    assert set(table) == set(committed) == {"single-turn", "multi-turn"}
    for mode, cells in table.items():
        row = committed[mode]
        expected = [
            f"{row[f'{name}_per_call_mean']:.3f} ± {row[f'{name}_per_call_sd']:.3f}"
            for name in PER_CALL
        ]
        expected += [
            f"{row[f'{name}_mean']:.1f} ± {row[f'{name}_sd']:.1f}"
            for name in ("teacher_calls", "quota_slots_filled")
        ]
        assert cells == expected, mode


def test_the_readme_states_the_committed_multi_turn_yield() -> None:
    readme = " ".join((ROOT / "README.md").read_text().split())
    found = re.search(
        r"single-turn ([0-9.]+), multi-turn ([0-9.]+) banded problems per teacher call", readme
    )
    assert found, "the README no longer states section 1's yield per call"
    committed = committed_rows()
    assert float(found[1]) == round(committed["single-turn"]["banded_per_call_mean"], 2)
    assert float(found[2]) == round(committed["multi-turn"]["banded_per_call_mean"], 2)
    gain = round(committed["multi-turn"]["banded_per_call_mean"], 2) > round(
        committed["single-turn"]["banded_per_call_mean"], 2
    )
    says_not_reproduced = "does not reproduce the paper: multi-turn refinement" in readme
    assert says_not_reproduced is not gain, "the README's claim and the committed run disagree"


DYNAMICS = ROOT / "docs/experiments/dynamics"
TURN_COLUMNS = ("turns", "teacher_calls", "hard", "medium", "easy", "discarded", "exhausted")
"""The turns.json columns section 2's turn table shows, in its order after `turn`."""


def dynamics_rows(name: str) -> list[dict[str, Any]]:
    """The rows of docs/experiments/dynamics/<name>.json."""
    rows: list[dict[str, Any]] = json.loads((DYNAMICS / f"{name}.json").read_text())["rows"]
    return rows


def section_two() -> str:
    text = (ROOT / "docs/experiments.md").read_text()
    return text.split("## 2. Dynamics", 1)[1].split("\n## ", 1)[0]


def section_two_tables() -> list[list[list[str]]]:
    """Section 2's tables, each a list of rows of cells, header and rule rows dropped."""
    tables: list[list[list[str]]] = []
    for block in re.split(r"\n(?!\|)", section_two()):
        rows = [line.strip("|").split("|") for line in block.splitlines() if line.startswith("|")]
        if rows:
            tables.append([[c.strip() for c in cells] for cells in rows[2:]])
    return tables


def test_the_section_two_turn_table_is_the_committed_run() -> None:
    turn_table = section_two_tables()[0]
    rows = dynamics_rows("turns")
    assert [int(cells[0]) for cells in turn_table] == [row["turn"] for row in rows]
    for cells, row in zip(turn_table, rows, strict=True):
        assert cells[1:-1] == [str(row[name]) for name in TURN_COLUMNS], row["turn"]
        assert cells[-1] == f"{row['banded_per_call']:.3f}", row["turn"]
        hidden = ("too_easy", "too_hard", "unmeasured")
        assert all(row[name] == 0 for name in hidden), "the prose says these are all 0"


def test_the_section_two_direction_table_is_the_committed_run() -> None:
    table = {cells[0]: cells[1:] for cells in section_two_tables()[1]}
    rows = {row["direction"]: row for row in dynamics_rows("directions")}
    assert set(table) == {"easier", "harder"}
    for direction, cells in table.items():
        row = rows[direction]
        assert cells == [
            str(row["turns"]),
            str(row["valid"]),
            f"{row['moved_as_asked']} / {row['compared']}",
            f"{row['mean_delta_pass_rate']:+.3f}",
        ], direction


def test_the_section_two_prose_names_the_committed_run() -> None:
    prose = " ".join(section_two().split("\n|", 1)[0].split())
    run_id = json.loads((DYNAMICS / "turns.json").read_text())["run_id"]
    assert f"Run `{run_id}`" in prose
    calls = sum(row["teacher_calls"] for row in dynamics_rows("turns"))
    assert f"with {calls} teacher calls" in prose
    lineages = sum(row["lineages"] for row in dynamics_rows("lineages"))
    assert f"{lineages} lineages" in prose


def band_cell(band: dict[str, Any]) -> str:
    """How section 5 writes a band: count/quota, then the surplus beyond the quota if any."""
    cell = f"{band['count']}/{band['quota']}"
    return cell + (f" (+{band['surplus']} surplus)" if band["surplus"] else "")


def test_the_section_five_table_is_the_committed_runs() -> None:
    text = (ROOT / "docs/experiments.md").read_text()
    section = text.split("## 5. Presets", 1)[1].split("\n## ", 1)[0]
    rows = [line.strip("|").split("|") for line in section.splitlines() if line.startswith("| ")]
    table = {cells[0].split()[0]: [c.strip() for c in cells[1:]] for cells in rows[1:]}
    assert set(table) == {"default", "paper"}
    for preset, cells in table.items():
        report = json.loads((ROOT / f"docs/experiments/presets/{preset}.json").read_text())
        assert report["config"]["preset"] == preset
        expected = [report["stop_reason"]]
        expected += [band_cell(report["bands"][name]) for name in ("hard", "medium", "easy")]
        expected += [
            str(report["outside_bands"]["between_bands"]),
            str(report["teacher_calls"]),
            f"{report['yield_per_call']:.2f}",
            str(report["rejections_by_reason"].get("duplicate", 0)),
        ]
        assert cells[:-1] == expected, preset


ENVIRONMENTS = ("code", "induction", "abduction", "deduction", "fuzzing")


def test_the_section_one_b_table_is_the_committed_run() -> None:
    text = (ROOT / "docs/experiments.md").read_text()
    section = text.split("### 1b. Yield per environment", 1)[1].split("\n## ", 1)[0]
    rows = [line.strip("|").split("|") for line in section.splitlines() if line.startswith("| ")]
    table = {cells[0].strip(): [c.strip().strip("*") for c in cells[1:]] for cells in rows[1:]}
    assert tuple(table) == ENVIRONMENTS
    for env, cells in table.items():
        path = ROOT / f"docs/experiments/yield-environments/{env}/yield.json"
        summary = {row["mode"]: row for row in json.loads(path.read_text())["summary"]}
        single, multi = summary["single-turn"], summary["multi-turn"]
        expected = [
            f"{row[f'{name}_per_call_mean']:.3f} ± {row[f'{name}_per_call_sd']:.3f}"
            for name in ("banded", "viable")
            for row in (single, multi)
        ]
        expected.append(f"{single['easy_per_call_mean']:.3f}, {multi['easy_per_call_mean']:.3f}")
        assert cells == expected, env
