"""Mutants and trivial solutions used to judge test strength."""

from stepstones.tools.mutate import mutants, trivial_solutions

CODE = """
def total_below(xs, k):
    s = 0
    for x in xs:
        if x < k:
            s = s + x
    return s
"""


def test_mutants_are_single_changes_and_reproducible() -> None:
    first = list(mutants(CODE, limit=5, seed=1))
    assert first == list(mutants(CODE, limit=5, seed=1))
    assert 1 <= len(first) <= 5
    kinds = {kind for kind, _ in first}
    assert kinds <= {"comparison", "operator", "off_by_one"}
    for _, source in first:
        compile(source, "<mutant>", "exec")
        assert source.strip() != CODE.strip()


def test_unparseable_code_has_no_mutants() -> None:
    assert list(mutants("def f(:\n")) == []


def test_trivial_solutions_define_the_entry_point() -> None:
    for code in trivial_solutions("solve").values():
        ns: dict[str, object] = {}
        exec(code, ns)
        assert callable(ns["solve"])
    assert "prints_nothing" in trivial_solutions("solve", "stdio")
