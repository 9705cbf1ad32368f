"""Mutants and trivial solutions used to judge test strength."""

import ast
import random

from stepstones.tools.mutate import (
    _mutate_in_place,
    _sites,
    mutants,
    trivial_solutions,
    trivially_passing,
)
from stepstones.tools.schema import TestCase

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


TRICKY = """
def f(a, b, m):
    c = a * (2 * b - a) % m  # '*' -> '+' must keep the '% m' outside
    d = (a  # a comment with + and < in it
         - b)
    s = 'é' * 2 + f'{a + 1}'
    return c < d and a * b >= -3
"""


def test_text_edits_equal_mutating_the_tree() -> None:
    """Mutants are made by editing the source text (fast); each must be the same program as
    mutating the syntax tree at that site and unparsing it (the slow, obviously right way)."""
    for code in (CODE, TRICKY):
        made = mutants(code, limit=50, seed=0)
        assert len(made) == len(_sites(ast.parse(code))) > 0
        order = list(range(len(made)))
        random.Random(0).shuffle(order)
        for (kind, source), target in zip(made, order, strict=True):
            tree = ast.parse(code)
            site_kind, node = _sites(tree)[target]
            _mutate_in_place(node)
            assert kind == site_kind
            assert ast.dump(ast.parse(source)) == ast.dump(ast.parse(ast.unparse(tree)))


def _tests(*pairs: tuple[str, str]) -> list[TestCase]:
    return [TestCase(input=i, expected=e) for i, e in pairs]


def test_trivially_passing_names_the_constants_and_echoes_the_data_accepts() -> None:
    assert trivially_passing(_tests(("[1]", "null"), ("[2]", "null"))) == ["returns_none"]
    assert trivially_passing(_tests(("[[1, 2]]", "[1, 2]"), ("[[]]", "[]"))) == [
        "returns_first_argument"
    ]
    # Bools are not ints and floats match within the judge's tolerance, as in the sandbox.
    assert trivially_passing(_tests(("[1]", "1"), ("[0]", "true"))) == []
    assert trivially_passing(_tests(("[1]", "0.0"), ("[0]", "0"))) == ["returns_zero"]
    assert trivially_passing(_tests(("[]", "[]"), ("[3]", "[]"))) == ["returns_empty_list"]
    assert trivially_passing(_tests(("[1]", "1"), ("[2]", "3"))) == []
    # Stdio: trailing whitespace is ignored, as the judge ignores it.
    assert trivially_passing(_tests(("5\n", "0  \n"), ("", "0")), "stdio") == ["prints_zero"]
    assert trivially_passing(_tests(("a b\n", "a b"), ("x", "x\n\n")), "stdio") == ["echoes_input"]
    assert trivially_passing(
        _tests(
            ("1\n", "\n"),
        ),
        "stdio",
    ) == ["prints_nothing"]
    assert (
        trivially_passing(
            _tests(
                ("1\n", "2\n"),
            ),
            "stdio",
        )
        == []
    )


def test_trivially_passing_leaves_what_is_not_an_argument_array_to_the_sandbox() -> None:
    assert trivially_passing(_tests(("not json", "1"), ("{}", "1"))) == []
