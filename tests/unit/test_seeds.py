"""Seed sources work offline and fail clearly on bad files."""

import ast
import sysconfig
from pathlib import Path

import pytest

from stepstones.tools.seeds import (
    _STDLIB_MODULES,
    SeedError,
    _function_defs,
    load_seeds,
)


def test_stdlib_seeds_are_real_functions_and_reproducible() -> None:
    a = load_seeds("stdlib", 20, seed=3)
    assert len(a) == 20
    assert all(s.text.lstrip().startswith("def ") for s in a)
    assert [s.id for s in a] == [s.id for s in load_seeds("stdlib", 20, seed=3)]


def test_puzzles_and_mixed() -> None:
    assert len(load_seeds("puzzles", 5)) == 5
    assert {s.kind for s in load_seeds("mixed", 10)} == {"code", "puzzle"}


def test_jsonl(tmp_path: Path) -> None:
    f = tmp_path / "s.jsonl"
    f.write_text('{"text": "def f(): pass"}\n\n{"text": "x", "kind": "puzzle"}\n')
    seeds = load_seeds(str(f), 10)
    assert [s.kind for s in seeds] == ["code", "puzzle"]
    f.write_text('{"text": 1}\n')
    with pytest.raises(SeedError, match=":1:"):
        load_seeds(str(f), 10)
    with pytest.raises(SeedError, match="cannot read"):
        load_seeds(str(tmp_path / "missing.jsonl"), 10)


NESTED = """
def top(): pass
class K:
    def method(self): pass
    if X:
        def in_if(self): pass
    else:
        def in_else(self): pass
try:
    def in_try(): pass
except E:
    def in_except(): pass
else:
    def in_try_else(): pass
finally:
    def in_finally(): pass
for i in x:
    def in_for(): pass
while y:
    def in_while(): pass
with z:
    def in_with(): pass
match v:
    case 1:
        def in_case():
            def nested(): pass
async def coroutine():
    def in_async(): pass
f = lambda: [g for g in ()]
@decorated
def last(): pass
"""


def _walked(tree: ast.AST) -> list[tuple[int, str]]:
    return [(n.lineno, n.name) for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)]


def test_the_statement_walk_finds_every_def_in_ast_walk_order() -> None:
    """The pool's order (what the seeds' shuffle starts from) is the one ast.walk gives."""
    tree = ast.parse(NESTED)
    found = [(n.lineno, n.name) for n in _function_defs(tree)]
    assert found == _walked(tree)
    assert {"in_case", "nested", "in_async", "in_finally", "last"} <= {name for _, name in found}
    root = Path(sysconfig.get_paths()["stdlib"])
    for name in _STDLIB_MODULES:
        module = ast.parse((root / name).read_text(encoding="utf-8"))
        assert [(n.lineno, n.name) for n in _function_defs(module)] == _walked(module), name
