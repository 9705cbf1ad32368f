"""The export's screen: what each problem is on its own in a pool of processes, what to keep in
order in one.

Screening a problem is mostly work on that problem alone: reading its record, HumanEval
decontamination (`contaminated`: normalising the reference, its n-grams) and the MinHash
signature of its text (`problem_text`, `NearDupIndex.minhash`). Those are its `Features`,
computed a page of records at a time by `features` in worker processes when asked. Whether a
problem is a near-duplicate depends on the problems kept before it, so `Screen.decide` runs in
the caller, on the features in the problems' order: the same decisions as one process makes.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from stepstones.tools.decontam import BenchmarkIndex, contaminated
from stepstones.tools.dedup import NearDupIndex, problem_text
from stepstones.tools.pool import Pool
from stepstones.tools.schedule import lineage_roots
from stepstones.tools.schema import Problem


@dataclass(frozen=True)
class Exclusion:
    """A problem left out of the export, and why."""

    id: str
    reason: Literal["surplus", "out_of_range", "contaminated", "duplicate"]
    match: str
    score: float | None


@dataclass(frozen=True)
class Features:
    """What screening reads of one problem, independent of every other: its benchmark overlap
    (task id, score) or None, and when there is none the MinHash of its text."""

    id: str
    hit: tuple[str, float] | None
    signature: np.ndarray | None


def features_of(
    problem: Problem, benchmark: BenchmarkIndex | None, dedup: NearDupIndex
) -> Features:
    """`problem`'s features; `dedup` gives the signature (any index with the screen's MinHash
    parameters: signatures do not depend on what it holds)."""
    hit = contaminated(problem, benchmark) if benchmark is not None else None
    if hit is not None:
        return Features(problem.id, hit, None)
    return Features(problem.id, None, dedup.minhash(problem_text(problem)))


_worker: tuple[BenchmarkIndex | None, NearDupIndex] | None = None


def _start_worker(benchmark: BenchmarkIndex | None, threshold: float) -> None:
    global _worker
    _worker = (benchmark, NearDupIndex(threshold=threshold))


def _page_features(records: list[str]) -> list[Features]:
    if _worker is None:
        raise RuntimeError("screening worker used before _start_worker")
    benchmark, dedup = _worker
    return [features_of(Problem.model_validate_json(r), benchmark, dedup) for r in records]


def screening_pool(workers: int, benchmark: BenchmarkIndex | None, threshold: float) -> Pool:
    """A pool whose workers compute `features` against `benchmark` (1: in this process)."""
    return Pool(workers, _start_worker, (benchmark, threshold))


def features(pages: Iterable[list[str]], pool: Pool) -> Iterator[Features]:
    """The features of the problems whose JSON records come in `pages`, in their order, from a
    `screening_pool`'s workers (at most two pages each in flight: memory does not grow with
    the run). Any number of workers gives equal features."""
    for page in pool.map(_page_features, pages):
        yield from page


class Screen:
    """The in-order half of screening: a near-duplicate index over the problems kept so far."""

    def __init__(self, threshold: float, roots: Mapping[str, str]) -> None:
        self.index = NearDupIndex(threshold=threshold)
        self.roots = roots

    def decide(self, f: Features) -> Exclusion | None:
        """Why the problem with features `f` is left out (None: kept, and indexed)."""
        if f.hit is not None:
            return Exclusion(f.id, "contaminated", f.hit[0], f.hit[1])
        if f.signature is None:
            raise ValueError(f"features of {f.id} carry neither a benchmark hit nor a signature")
        root = self.roots[f.id]
        dups = [
            (k, s)
            for k, s in self.index.query_signature(f.signature)
            if self.roots[k] != root or s >= 1.0
        ]
        if dups:
            return Exclusion(f.id, "duplicate", dups[0][0], dups[0][1])
        self.index.add_signature(f.id, f.signature)
        return None


def screened(
    problems: Iterable[Problem],
    benchmark: BenchmarkIndex | None,
    threshold: float,
    roots: Mapping[str, str],
) -> Iterator[tuple[Problem, Exclusion | None]]:
    """Each problem in turn with why it is left out (None: kept), in this process; see
    `screen`. `roots` maps every problem's id to its lineage (`lineage_roots` over all of
    them), so the problems themselves can stream past."""
    decision = Screen(threshold, roots)
    for p in problems:
        yield p, decision.decide(features_of(p, benchmark, decision.index))


def screen(
    problems: Sequence[Problem], benchmark: BenchmarkIndex | None, threshold: float = 0.8
) -> tuple[list[Problem], list[Exclusion]]:
    """Drop problems overlapping the benchmark, then near-duplicates of an earlier kept problem.

    Stepping stones of one lineage differ by design in a word or a comparison ("increasing" ->
    "decreasing") and score ~0.9 on text alone, so inside a lineage only an identical normalised
    problem counts as a duplicate (the critic already rejects copies of a parent); across
    lineages anything at `threshold` or above does, since two seeds then led to the same task.
    """
    kept: list[Problem] = []
    excluded: list[Exclusion] = []
    for p, why in screened(problems, benchmark, threshold, lineage_roots(problems)):
        if why is None:
            kept.append(p)
        else:
            excluded.append(why)
    return kept, excluded
