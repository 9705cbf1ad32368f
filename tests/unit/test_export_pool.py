"""The export's screen computes each problem's features in a process pool and decides in order
(issue 19): any number of workers writes what one process writes, exclusions included."""

from __future__ import annotations

import json
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from stepstones.tools import export as export_module
from stepstones.tools import pool as pool_module
from stepstones.tools.decontam import BenchmarkIndex
from stepstones.tools.export import export_run, screen
from stepstones.tools.export_screen import features, screening_pool
from stepstones.tools.pool import MAX_WORKERS, default_workers
from stepstones.tools.schema import Problem
from stepstones.tools.store import Bank
from tests.unit.test_export import BANDS, HUMANEVAL_COPY, make_problem


def problems() -> list[Problem]:
    """Clean problems with near-duplicates (inside and across lineages) and HumanEval copies
    spread over several pages."""
    out: list[Problem] = []
    for n in range(1, 25):
        band, rate = [("easy", 0.8), ("medium", 0.5), ("hard", 0.2)][n % 3]
        if n % 7 == 0:  # a copy of problem n - 3 with other names, in another lineage
            twin = make_problem(n - 3, band, rate)
            reference = f"def solve(value):\n    return value + {n - 3}\n"
            out.append(make_problem(n, band, rate, statement=twin.statement, reference=reference))
        elif n % 11 == 0:
            statement = "Report whether two list entries lie within a distance below a limit."
            out.append(make_problem(n, band, rate, statement=statement, reference=HUMANEVAL_COPY))
        elif n % 5 == 0:  # a stepping stone of the problem before it
            parent = out[-1]
            root = parent.lineage.root_id or parent.id
            out.append(make_problem(n, band, rate, root=root, parent=parent.id, turn=1))
        else:
            out.append(make_problem(n, band, rate))
    return out


@pytest.fixture
def bank(tmp_path: Path) -> Bank:
    b = Bank(tmp_path / "bank.sqlite")
    b.start_run("r", {"bands": [dict(band, quota=20) for band in BANDS]})
    for p in problems():
        b.put_problem("r", p.lineage.root_id or p.id, p, valid=True)
    b.finish_run("r", "finished", {})
    return b


@pytest.fixture(scope="module")
def humaneval() -> BenchmarkIndex:
    return BenchmarkIndex.humaneval()


def test_pooled_features_equal_those_computed_in_one_process(
    bank: Bank, humaneval: BenchmarkIndex
) -> None:
    ids = bank.problem_ids("r")
    pages = [bank.problem_records("r", ids[i : i + 3]) for i in range(0, len(ids), 3)]
    with screening_pool(1, humaneval, 0.8) as one, screening_pool(2, humaneval, 0.8) as two:
        alone = list(features(pages, one))
        pooled = list(features(pages, two))
    assert [f.id for f in pooled] == [f.id for f in alone] == ids  # in the records' order
    assert [f.hit for f in pooled] == [f.hit for f in alone]
    assert sum(f.hit is not None for f in alone) == 2  # both HumanEval copies
    for a, p in zip(alone, pooled, strict=True):
        assert (a.signature is None) == (p.signature is None) == (a.hit is not None)
        if a.signature is not None and p.signature is not None:
            assert np.array_equal(a.signature, p.signature)


@pytest.mark.parametrize("method", ["spawn", "forkserver"])
def test_the_pool_gives_the_same_features_whatever_starts_its_workers(
    bank: Bank, humaneval: BenchmarkIndex, monkeypatch: pytest.MonkeyPatch, method: str
) -> None:
    """Workers that do not inherit the caller's memory (macOS's default start method, and
    Linux's from Python 3.14) get all they need from the initializer's arguments."""
    started: list[str] = []

    def executor(*args: Any, **kwargs: Any) -> ProcessPoolExecutor:
        started.append(method)
        return ProcessPoolExecutor(*args, mp_context=multiprocessing.get_context(method), **kwargs)

    monkeypatch.setattr(pool_module, "ProcessPoolExecutor", executor)
    ids = bank.problem_ids("r")
    pages = [bank.problem_records("r", ids[i : i + 3]) for i in range(0, len(ids), 3)]
    with screening_pool(1, humaneval, 0.8) as one, screening_pool(2, humaneval, 0.8) as two:
        alone = list(features(pages, one))
        pooled = list(features(pages, two))
    assert started == [method]  # the two-worker pool ran under `method`
    assert [(f.id, f.hit) for f in pooled] == [(f.id, f.hit) for f in alone]
    for a, p in zip(alone, pooled, strict=True):
        assert (a.signature is None) == (p.signature is None)
        if a.signature is not None and p.signature is not None:
            assert np.array_equal(a.signature, p.signature)


@pytest.mark.parametrize("fmt", ["jsonl", "parquet", "hf"])
def test_an_export_with_a_pool_writes_what_one_process_writes(
    bank: Bank,
    humaneval: BenchmarkIndex,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fmt: str,
) -> None:
    monkeypatch.setattr(export_module, "PAGE", 4)  # several pages: the pool is used
    one = export_run(bank, tmp_path / "one", benchmark=humaneval, fmt=fmt, workers=1)  # type: ignore[arg-type]
    two = export_run(bank, tmp_path / "two", benchmark=humaneval, fmt=fmt, workers=2)  # type: ignore[arg-type]
    assert one.excluded == two.excluded and one.rows == two.rows
    assert sorted({e.reason for e in one.excluded}) == ["contaminated", "duplicate"]
    kept, dropped = screen(list(bank.problems("r")), humaneval)  # the in-memory screen agrees
    assert dropped == [e for e in one.excluded if e.reason in ("contaminated", "duplicate")]
    assert one.rows == len(kept)
    files = sorted(p.relative_to(tmp_path / "one") for p in (tmp_path / "one").rglob("*.*"))
    assert files == sorted(p.relative_to(tmp_path / "two") for p in (tmp_path / "two").rglob("*.*"))
    for rel in files:
        assert (tmp_path / "one" / rel).read_bytes() == (tmp_path / "two" / rel).read_bytes(), rel
    meta = json.loads((tmp_path / "two" / "export.json").read_text())
    assert meta["excluded"]["duplicate"] == sum(e.reason == "duplicate" for e in two.excluded)


def test_the_default_pool_is_the_cpus_available_capped() -> None:
    assert 1 <= default_workers() <= MAX_WORKERS
