"""Window seeds: 25-50-line windows from every kind of corpus, deduplicated, with provenance;
successful solutions from a bank or a JSONL file."""

from __future__ import annotations

import itertools
import json
import random
import sqlite3
import sysconfig
from pathlib import Path

import pytest

from stepstones.agents.teacher import LLMTeacher, TeacherRequest
from stepstones.tools.corpus import CorpusConfig
from stepstones.tools.schema import Attempt, Seed, Verdict
from stepstones.tools.seeds import SeedError, cut_windows, load_seeds
from stepstones.tools.store import Bank


def _module(n: int, lines: int = 80) -> str:
    """A Python file of `lines` distinct code lines."""
    return "\n".join(f"value_{n}_{i} = {i} * {n} + {i % 7}" for i in range(lines)) + "\n"


def _check_window(seed: Seed, full_text: str, lo: int = 25, hi: int = 50) -> None:
    assert seed.first_line is not None and seed.last_line is not None
    assert lo <= seed.last_line - seed.first_line + 1 <= hi
    assert seed.text == "\n".join(full_text.splitlines()[seed.first_line - 1 : seed.last_line])


def test_stdlib_windows_are_25_to_50_real_lines_with_provenance() -> None:
    seeds = load_seeds("windows", 40, seed=5)
    assert len(seeds) == 40
    root = Path(sysconfig.get_paths()["stdlib"])
    for s in seeds:
        assert (s.kind, s.origin, s.license) == ("code", "stdlib", "PSF-2.0")
        assert s.path is not None and s.source == f"stdlib:{s.path}:{s.first_line}-{s.last_line}"
        _check_window(s, (root / s.path).read_text(encoding="utf-8"))
    assert len({s.path for s in seeds}) == 40  # one window per file by default
    assert [s.id for s in seeds] == [s.id for s in load_seeds("windows", 40, seed=5)]
    assert [s.id for s in seeds] != [s.id for s in load_seeds("windows", 40, seed=6)]


def test_window_length_is_configurable() -> None:
    cfg = CorpusConfig(window_lines=(8, 10), windows_per_document=3)
    seeds = load_seeds("windows:stdlib", 30, seed=1, corpus=cfg)
    assert all(8 <= s.last_line - s.first_line + 1 <= 10 for s in seeds)  # type: ignore[operator]
    with pytest.raises(ValueError, match="window_lines"):
        CorpusConfig(window_lines=(30, 20))


def test_cut_windows_tile_without_overlap_and_skip_short_texts() -> None:
    text = _module(0, 400)
    spans = cut_windows(text, random.Random(0), (25, 50), 100)
    assert len(spans) >= 400 // 50
    assert all(25 <= b - a + 1 <= 50 for a, b in spans)
    assert all(b1 < a2 for (_, b1), (a2, _) in itertools.pairwise(spans))
    assert cut_windows(_module(0, 24), random.Random(0), (25, 50), 5) == []
    assert cut_windows("\n" * 60, random.Random(0), (25, 50), 5) == []  # blank: no code


def test_folder_corpus_reads_source_files_skips_tests_and_dedups(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "tests").mkdir()
    (tmp_path / "a.py").write_text(_module(1, 30))
    (tmp_path / "pkg" / "b.py").write_text(_module(2, 30))
    (tmp_path / "pkg" / "copy.py").write_text(_module(2, 30).replace(" = ", "  =  "))
    (tmp_path / "tests" / "test_x.py").write_text(_module(3, 30))
    (tmp_path / "notes.txt").write_text(_module(4, 30))
    (tmp_path / "short.py").write_text(_module(5, 10))
    cfg = CorpusConfig(license="MIT")
    seeds = load_seeds(f"windows:{tmp_path}", 50, corpus=cfg)
    assert load_seeds(str(tmp_path), 50, corpus=cfg) == seeds  # a bare folder: windows too
    # b.py and its whitespace-only copy give one seed; tests/, .txt and short files none
    assert len(seeds) == 2
    assert {s.path for s in seeds} <= {"a.py", "pkg/b.py", "pkg/copy.py"}
    assert "a.py" in {s.path for s in seeds}
    for s in seeds:
        assert s.origin == str(tmp_path) and s.license == "MIT" and s.row is None
        _check_window(s, (tmp_path / str(s.path)).read_text())


def test_jsonl_corpus_rows_with_a_license_column(tmp_path: Path) -> None:
    f = tmp_path / "corpus.jsonl"
    rows = [{"text": _module(i, 40), "license": "apache-2.0" if i % 2 else "mit"} for i in range(6)]
    rows[5]["text"] = rows[4]["text"].replace("\n", "  \n")  # a copy of a row
    f.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    seeds = load_seeds(f"windows:{f}", 20)
    assert len(seeds) == 5
    for s in seeds:
        line = s.row
        assert line is not None and s.path is None and s.origin == str(f)
        assert s.license == rows[line - 1]["license"]  # row: the file's line number
        _check_window(s, rows[line - 1]["text"])
    with pytest.raises(SeedError, match="no column 'body'"):
        load_seeds(f"windows:{f}", 5, corpus=CorpusConfig(text_column="body"))


def test_parquet_corpus_finds_the_content_column(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    texts = [_module(i, 150) for i in range(4)]
    table = pa.table({"content": texts, "license": [["MIT"], [], ["BSD-3", "MIT"], ["GPL"]]})
    path = tmp_path / "code.parquet"
    pq.write_table(table, path)
    seeds = load_seeds(str(path), 10, corpus=CorpusConfig(windows_per_document=2))
    assert len(seeds) == 8
    licenses = {0: "MIT", 1: None, 2: "BSD-3,MIT", 3: "GPL"}
    for s in seeds:
        assert s.row is not None and s.license == licenses[s.row]
        _check_window(s, texts[s.row])


def test_saved_hugging_face_dataset(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    texts = [_module(i, 45) for i in range(5)]
    data = datasets.Dataset.from_dict({"code": texts, "license": ["mit"] * 5})
    datasets.DatasetDict({"train": data, "test": data.select([0])}).save_to_disk(
        str(tmp_path / "saved")
    )
    seeds = load_seeds(f"windows:{tmp_path / 'saved'}", 10)
    assert sorted(s.row for s in seeds) == [0, 1, 2, 3, 4]  # type: ignore[type-var]
    for s in seeds:
        assert s.license == "mit" and s.origin == str(tmp_path / "saved")
        _check_window(s, texts[s.row])  # type: ignore[index]
    one = load_seeds(f"windows:{tmp_path / 'saved'}", 10, corpus=CorpusConfig(split="test"))
    assert [s.row for s in one] == [0]
    with pytest.raises(SeedError, match="no split 'dev'"):
        load_seeds(f"windows:{tmp_path / 'saved'}", 10, corpus=CorpusConfig(split="dev"))


def test_dataset_by_name_goes_through_load_dataset(tmp_path: Path) -> None:
    """`hf:NAME` streams `datasets.load_dataset(NAME)`; a local data folder stands in for a hub
    name here (the same call, without the network)."""
    pytest.importorskip("datasets")
    pq = pytest.importorskip("pyarrow.parquet")
    pa = pytest.importorskip("pyarrow")
    texts = [_module(i, 30) for i in range(3)]
    (tmp_path / "hub" / "data").mkdir(parents=True)
    pq.write_table(pa.table({"content": texts}), tmp_path / "hub" / "data" / "train.parquet")
    seeds = load_seeds(f"hf:{tmp_path / 'hub'}", 10)
    assert [s.row for s in seeds] == [0, 1, 2]  # the stream's order
    for s in seeds:
        _check_window(s, texts[s.row])  # type: ignore[index]
    with pytest.raises(SeedError, match="cannot load dataset"):
        load_seeds(f"hf:{tmp_path / 'missing'}", 10)


def test_solutions_from_a_bank_are_the_passing_attempts_deduplicated(tmp_path: Path) -> None:
    bank = Bank(tmp_path / "bank.sqlite")
    ok = Verdict(status="passed", passed=2, total=2)
    bad = Verdict(status="wrong_answer", passed=1, total=2)
    attempts = [
        Attempt(
            problem_id="p1", student="a", sample=0, code="def f(x):\n    return x+1\n", verdict=ok
        ),
        Attempt(
            problem_id="p1", student="b", sample=0, code="def g(y):\n    return y + 1\n", verdict=ok
        ),  # the same solution under other names
        Attempt(
            problem_id="p2", student="a", sample=0, code="def f(x):\n    return -x\n", verdict=bad
        ),
        Attempt(
            problem_id="p3",
            student="a",
            sample=1,
            code="def h(s):\n    return s[::-1]\n",
            verdict=ok,
        ),
    ]
    bank.start_run("r1", {})
    bank._write([("attempts", Bank._attempt_rows("r1", attempts))])
    bank.close()
    seeds = load_seeds(f"solutions:{tmp_path / 'bank.sqlite'}", 10)
    assert sorted(s.path for s in seeds) == ["r1/p1", "r1/p3"]  # type: ignore[type-var]
    assert all(s.kind == "solution" and s.origin == str(tmp_path / "bank.sqlite") for s in seeds)
    assert "return -x" not in "".join(s.text for s in seeds)


def test_solutions_from_jsonl(tmp_path: Path) -> None:
    f = tmp_path / "solutions.jsonl"
    f.write_text(
        json.dumps({"solution": "def a(n):\n    return n * 2\n", "license": "mit"})
        + "\n"
        + json.dumps({"solution": "def b(m):\n    return m * 2\n"})
        + "\n"
        + json.dumps({"solution": "print(input()[::-1])"})
        + "\n"
    )
    seeds = load_seeds(f"solutions:{f}", 10)
    assert sorted(s.row for s in seeds) == [1, 3]  # type: ignore[type-var]
    assert {s.license for s in seeds} == {"mit", None}
    with pytest.raises(SeedError, match="no solutions file"):
        load_seeds(f"solutions:{tmp_path / 'none.sqlite'}", 10)


def test_a_corpus_without_windows_is_one_clear_error(tmp_path: Path) -> None:
    (tmp_path / "tiny.py").write_text("x = 1\n")
    with pytest.raises(SeedError, match="no window of 25-50 lines"):
        load_seeds(f"windows:{tmp_path}", 5)
    with pytest.raises(SeedError, match="no corpus at"):
        load_seeds(f"windows:{tmp_path / 'nope'}", 5)


def test_old_seed_records_and_old_banks_still_load(tmp_path: Path) -> None:
    old = Seed.model_validate({"kind": "code", "source": "stdlib:x.py:f", "text": "def f(): pass"})
    assert old.origin is None and old.first_line is None and old.license is None
    assert old.id == Seed(kind="code", source="stdlib:x.py:f", text="def f(): pass").id
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as db:  # a bank written before the provenance columns
        db.execute(
            "create table seeds (run_id text, id text, kind text, source text, "
            "text text, primary key (run_id, id))"
        )
    bank = Bank(path)
    bank.add_seeds("r", load_seeds("windows", 3))
    rows = list(bank.db.table("seeds").rows)
    bank.close()
    assert len(rows) == 3 and all(r["license"] == "PSF-2.0" and r["first_line"] for r in rows)


def test_the_llm_teacher_is_shown_the_window() -> None:
    seed = load_seeds("windows", 1, seed=2)[0]
    prompt = LLMTeacher("fake", model=None).prompt(  # type: ignore[arg-type]
        TeacherRequest(seed=seed, lineage_id="L", turn=0, direction="seed")
    )
    assert seed.text in prompt
