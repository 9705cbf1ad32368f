"""Near-duplicate detection finds copies and renamed copies, spares unrelated problems and
stepping stones of one lineage, and gives the same signatures in every process."""

from __future__ import annotations

import random
import subprocess
import sys

import pytest

from stepstones.tools.dedup import (
    NearDupIndex,
    normalize_code,
    problem_text,
    shingle_hashes,
    shingles,
)
from stepstones.tools.export import screen
from stepstones.tools.schema import Lineage, Problem, TestCase

STATEMENT = (
    "Given a list of integers, return the length of the longest strictly increasing contiguous "
    "run. An empty list has run length 0."
)
REFERENCE = '''def solve(nums):
    """Longest increasing run."""
    best = cur = 0
    prev = None
    for x in nums:
        cur = cur + 1 if prev is not None and x > prev else 1
        best = max(best, cur)
        prev = x
    return best
'''
RENAMED = """from typing import List


def longest_run(values: List[int]) -> int:
    # one pass over the list
    top = length = 0
    last = None
    for v in values:
        length = length + 1 if last is not None and v > last else 1
        top = max(top, length)
        last = v
    return top
"""


def make(statement: str, reference: str, root: str | None = None) -> Problem:
    """A problem from its statement and reference (tests do not matter here)."""
    return Problem(statement=statement, tests=[TestCase(input="[[1, 2]]", expected="2")],
                   reference_solution=reference,
                   lineage=Lineage(seed_id="s", root_id=root, parent_id=root))  # fmt: skip


BASE = make(STATEMENT, REFERENCE)
NEAR = make(STATEMENT.replace(". An", "; an"), REFERENCE.replace("best", "answer"))
RENAMED_COPY = make(STATEMENT, RENAMED)
UNRELATED = make(
    "Return the number of vowels in a string, counting upper and lower case.",
    "def solve(s):\n    return sum(c in 'aeiouAEIOU' for c in s)\n",
)


# What the NodeTransformer that walked every node answered for these (the walk now visits only
# statements): imports leave every block, a docstring goes even behind an import, an emptied
# class or function body is `pass`, argument and return annotations go, a variable's stays.
SIMPLIFIED = [
    ('import os\n"""doc"""\nx = 1\n', "v0 = 1"),
    ("class A:\n    import os\n", "class v0 : pass"),
    ("if x:\n    import y\nelse:\n    from a import b\n    z = 1\n", "if v0 : else : v1 = 1"),
    ("try:\n    import a\nexcept E:\n    import b\nfinally:\n    c = 1\n",
     "try : except v0 : finally : v1 = 1"),
    ("match x:\n    case 1:\n        import a\n        y = 2\n", "v0 v1 : v2 1 : v3 = 2"),
    ('async def g(a, /, *b: int, c: str = 1, **k: X) -> Y:\n    """doc"""\n'
     "    async with q:\n        import z\n    return lambda e: e\n",
     "async def v0 ( v1 , / , * v2 , v3 = 1 , ** v4 ) : async with v5 : return lambda v6 : v6"),
    ("x: List[int] = []\n", "v0 : v1 [ int ] = [ ]"),
]  # fmt: skip


@pytest.mark.parametrize(("code", "shape"), SIMPLIFIED)
def test_normalize_code_strips_imports_docstrings_and_annotations(code: str, shape: str) -> None:
    assert normalize_code(code) == shape


def test_normalize_code_keeps_shape_only() -> None:
    assert normalize_code(REFERENCE) == normalize_code(RENAMED)
    assert normalize_code("x = len(y)  # count\n") == "v0 = len ( v1 )"
    assert normalize_code("def broken(:\n  x = 1 # c") == "def broken(: x = 1"


@pytest.mark.parametrize(
    ("other", "found"), [(NEAR, True), (RENAMED_COPY, True), (UNRELATED, False)]
)
def test_near_duplicates_found_unrelated_not(other: Problem, found: bool) -> None:
    index = NearDupIndex(threshold=0.8)
    index.add(BASE.id, problem_text(BASE))
    hits = index.query(problem_text(other))
    assert bool(hits) is found
    if found:
        assert hits[0][0] == BASE.id and hits[0][1] >= 0.8


def test_index_add_remove_and_bad_arguments() -> None:
    index = NearDupIndex()
    index.add("a", problem_text(BASE))
    index.add("a", problem_text(BASE))  # re-adding replaces
    assert len(index) == 1 and "a" in index
    assert index.query(problem_text(BASE), exclude={"a"}) == []
    index.remove("a")
    index.remove("a")
    assert index.query(problem_text(BASE)) == [] and len(index) == 0
    with pytest.raises(ValueError):
        NearDupIndex(threshold=0.0)


def test_a_shared_bucket_shrinks_and_grows_with_its_keys() -> None:
    """A bucket holds one row as an int and several as a set: each step between the two keeps
    exactly the keys present (freed rows are reused)."""
    text, other = problem_text(BASE), "an unrelated text about sorting strings by length"
    index = NearDupIndex()
    for key in ("a", "b", "c"):
        index.add(key, text)
    index.add("x", other)
    index.remove("b")
    assert index.query(text) == [("a", 1.0), ("c", 1.0)]
    index.remove("a")
    assert index.query(text) == [("c", 1.0)]
    index.add("d", text)
    index.remove("c")
    assert index.query(text) == [("d", 1.0)] and index.query(other) == [("x", 1.0)]
    index.remove("d")
    assert index.query(text) == [] and index.keys() == ["x"]


def test_signatures_agree_across_processes() -> None:
    code = (
        "from stepstones.tools.dedup import NearDupIndex;"
        "print(NearDupIndex().signature('longest increasing run')[:4])"
    )
    outs = {
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={"PYTHONHASHSEED": seed},
        ).stdout
        for seed in ("1", "2")
    }
    assert len(outs) == 1
    assert outs.pop().strip() == str(NearDupIndex().signature("longest increasing run")[:4])


def test_export_screen_spares_stepping_stones_of_one_lineage() -> None:
    harder = make(STATEMENT.replace("increasing", "decreasing"),
                  REFERENCE.replace("x > prev", "x < prev"), root=BASE.id)  # fmt: skip
    copy_elsewhere = make(STATEMENT, RENAMED)  # its own lineage
    kept, excluded = screen([BASE, harder, copy_elsewhere], benchmark=None)
    assert [p.id for p in kept] == [BASE.id, harder.id]
    assert [(e.id, e.reason, e.match) for e in excluded] == [
        (copy_elsewhere.id, "duplicate", BASE.id)
    ]


def test_shingle_hashes_are_one_per_distinct_shingle() -> None:
    """The numpy hashes stand for `shingles`: same count on ordinary, short, repetitive and
    non-ASCII text (a collision would merge two shingles and bias the Jaccard estimate)."""
    texts = [
        "abc",
        "x" * 50,
        "héllo wörld, ünïcode ≠ ascii",
        "Given a list of integers xs, return the sum of its even elements.\n" * 3,
    ]
    for text in texts:
        assert len(shingle_hashes(text, 5)) == len(shingles(text, 5)), text
    assert shingle_hashes("", 5).size == 0
    assert (shingle_hashes("same text", 5) == shingle_hashes("same   text", 5)).all()


def _family_texts(n: int, seed: int) -> list[str]:
    """Texts of a few templates with words and numbers varied: many share LSH bands."""
    rng = random.Random(seed)
    templates = [
        (STATEMENT, REFERENCE),
        ("Return the sum of the even values in the list; an empty list sums to 0.", SUM_EVENS),
        ("Count the vowels of the string, upper or lower case.", COUNT_VOWELS),
    ]
    words = [
        "list",
        "value",
        "empty",
        "count",
        "return",
        "run",
        "string",
        "sum",
        "even",
        "odd",
        "first",
        "last",
    ]
    out = []
    for _ in range(n):
        statement, code = rng.choice(templates)
        varied = " ".join(
            rng.choice(words) if rng.random() < 0.15 else w for w in statement.split()
        )
        out.append(problem_text(_problem(varied, code.replace("0", str(rng.randrange(3))))))
    return out


SUM_EVENS = """def solve(xs):
    total = 0
    for x in xs:
        if x % 2 == 0:
            total += x
    return total
"""
COUNT_VOWELS = "def solve(s):\n    return sum(1 for c in s.lower() if c in 'aeiou')\n"


def _problem(statement: str, reference: str) -> Problem:
    return Problem(
        statement=statement,
        tests=[TestCase(input="[[]]", expected="0")],
        reference_solution=reference,
        lineage=Lineage(seed_id="s"),
    )


def _brute_force(index: NearDupIndex, indexed: dict[str, str], text: str, lsh: bool):
    """Every indexed key's signature agreement with `text`, above the threshold; with `lsh`,
    only keys sharing a whole band (plain LSH's candidates), as the index read them before."""
    sig = index.signature(text)
    rows = index.rows
    hits = []
    for key, other in indexed.items():
        theirs = index.signature(other)
        bands = range(index.bands)
        if lsh and not any(
            sig[b * rows : (b + 1) * rows] == theirs[b * rows : (b + 1) * rows] for b in bands
        ):
            continue
        score = sum(a == b for a, b in zip(sig, theirs, strict=True)) / index.num_perm
        if score >= index.threshold:
            hits.append((key, score))
    return sorted(hits, key=lambda kv: (-kv[1], kv[0]))


@pytest.mark.parametrize("threshold", [0.8, 0.9, 0.5])
def test_query_answers_what_a_brute_force_scan_answers(threshold: float) -> None:
    texts = _family_texts(400, seed=3)
    index = NearDupIndex(threshold=threshold)
    indexed: dict[str, str] = {}
    for i, text in enumerate(texts[:300]):
        index.add(f"k{i}", text)
        indexed[f"k{i}"] = text
    index.remove("k5")
    del indexed["k5"]
    # At 0.8 and 0.9 every key above the threshold shares a band (LSH misses none), so the
    # answer is the scan of all keys; at 0.5 it is not, and the answer is plain LSH's.
    lsh = threshold == 0.5
    found = 0
    for text in texts[250:]:
        got = index.query(text, exclude={"k7"})
        want = [kv for kv in _brute_force(index, indexed, text, lsh) if kv[0] != "k7"]
        assert got == want
        found += len(got)
    assert found > 0  # the set has near-duplicates to find, not only misses
