"""Seed sources work offline and fail clearly on bad files."""

from pathlib import Path

import pytest

from stepstones.tools.seeds import SeedError, load_seeds


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
