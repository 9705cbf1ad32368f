"""Dedup lookups against a growing bank: time and candidates per new problem, and `recent`.

The critic asks the run's `NearDupIndex` about every draft and `RunScope.recent` before every
critique, so both must stay flat as a bank grows to 100k problems. The bank here is texts of
the offline procedural task families (the texts the critic compares: normalised statement and
reference), each varied the way many problems of one family differ: the same core program
with its constants changed, told in words partly its own. A text joins the bank only if the
index finds no near-duplicate of it, as the critic would accept it. Sizes are reached in turn
(1k, then on to 10k, then to 100k); at each, fresh drafts of the same families and
near-copies of banked texts (the critic's commonest rejection) are looked up, every answer
checked against a brute-force scan of all signatures. "share a band" is how many keys the
lookup read before issue 19 (every member of the query's buckets); "scored" is how many it
compares now.

    python -m stepstones.evals.bench_dedup [--sizes 1000,10000,100000] [--queries 300]
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import time
from collections import deque
from collections.abc import Iterator, Sequence

import numpy as np
from pydantic import BaseModel

from stepstones.agents.families import FAMILIES
from stepstones.graphs.components import RunScope
from stepstones.reporting.machine import machine_line
from stepstones.tools.dedup import NearDupIndex, normalize_code, normalize_text

_NUMBER = re.compile(r"\b\d+\b")
PER_ROUND = 16
"""Problems accepted per round in the `recent` measurement (16 lineages in flight)."""
REPEATS = 5


class LookupResult(BaseModel):
    """Lookups of one kind of draft at one bank size."""

    median_ms: float
    mean_ms: float
    p95_ms: float
    signed_mean_ms: float
    """Mean of signing the draft (uncached) and looking it up: what the critic pays for it."""
    scored: float
    sharing_a_band: float
    hits: float


class SizeResult(BaseModel):
    """The figures at one bank size: fresh drafts, near-copies of banked ones, `recent`."""

    size: int
    fresh: LookupResult
    copies: LookupResult
    recent_ms: float
    scan_ms: float


def family_bases(count: int, seed: int) -> list[tuple[str, str]]:
    """(statement, reference) of `count` family instances, every family and level in turn."""
    names = list(FAMILIES)
    out = []
    for k in range(count):
        family = FAMILIES[names[k % len(names)]]
        level = 1 + (k // len(names)) % family.levels
        inst = family.generate(level, random.Random(seed * 1_000_003 + k))
        out.append((inst.statement, inst.reference_solution))
    return out


def problem_texts(bases: Sequence[tuple[str, str]], seed: int) -> Iterator[str]:
    """Endless varied texts of the bases: a third of the statement's words swapped for words
    of other statements, numbers in statement and code redrawn."""
    rng = random.Random(seed)
    statements = [normalize_text(s) for s, _ in bases]
    codes = [normalize_code(c) for _, c in bases]
    vocabulary = sorted({w for s in statements for w in s.split()})
    while True:
        i = rng.randrange(len(bases))
        words = [
            rng.choice(vocabulary) if rng.random() < 1 / 3 else w for w in statements[i].split()
        ]
        code = _NUMBER.sub(lambda _m: str(rng.randrange(100)), codes[i])
        statement = _NUMBER.sub(lambda _m: str(rng.randrange(100)), " ".join(words))
        yield statement + " || " + code


def brute_force(
    index: NearDupIndex, sigs: np.ndarray, keys: list[str], text: str
) -> list[tuple[str, float]]:
    """`query`'s answer by comparing the text's signature with every indexed one."""
    agree = (sigs == np.array(index.signature(text), dtype=np.uint64)).sum(axis=1)
    hits = [(keys[j], int(n) / index.num_perm) for j, n in enumerate(agree)]
    return sorted(((k, s) for k, s in hits if s >= index.threshold), key=lambda kv: (-kv[1], kv[0]))


def sharing_a_band(index: NearDupIndex, sigs: np.ndarray, text: str) -> int:
    """Keys that share at least one whole LSH band with `text` (what a lookup read before)."""
    sig = np.array(index.signature(text), dtype=np.uint64)
    rows, bands = index.rows, index.bands
    same = (sigs[:, : rows * bands] == sig[: rows * bands]).reshape(len(sigs), bands, rows)
    return int(same.all(axis=2).any(axis=1).sum())


def near_copy(text: str, rng: random.Random) -> str:
    """A banked text with one number redrawn and one word dropped: what a teacher that
    changes only names or numbers writes again."""
    statement, code = text.split(" || ", 1)
    words = statement.split()
    del words[rng.randrange(len(words))]
    return " ".join(words) + " || " + _NUMBER.sub(lambda _m: str(rng.randrange(100)), code, 1)


def lookups(
    index: NearDupIndex, sigs: np.ndarray, keys: list[str], drafts: Sequence[str]
) -> LookupResult:
    """Time `query` on each draft (least of `REPEATS`), checked against a brute-force scan."""
    times, signed, scored, shared, hits = [], [], [], [], []
    for text in drafts:
        best_signed = float("inf")
        for _ in range(REPEATS):  # the least of a few: a shared machine's noise only adds
            index._recent.pop(text, None)
            start = time.perf_counter()
            index.query(text)
            best_signed = min(best_signed, time.perf_counter() - start)
        best = float("inf")  # now signed (and cached): the lookup alone
        for _ in range(REPEATS):
            start = time.perf_counter()
            got = index.query(text)
            best = min(best, time.perf_counter() - start)
        if got != brute_force(index, sigs, keys, text):
            raise AssertionError(f"query and brute force disagree at size {len(keys)}")
        times.append(1000 * best)
        signed.append(1000 * best_signed)
        scored.append(len(index.candidates(text)))
        shared.append(sharing_a_band(index, sigs, text))
        hits.append(len(got))
    return LookupResult(
        median_ms=statistics.median(times),
        mean_ms=statistics.mean(times),
        p95_ms=sorted(times)[int(0.95 * (len(times) - 1))],
        signed_mean_ms=statistics.mean(signed),
        scored=statistics.mean(scored),
        sharing_a_band=statistics.mean(shared),
        hits=statistics.mean(hits),
    )


def measure(sizes: Sequence[int], queries: int, seed: int) -> list[SizeResult]:
    """Grow one bank through `sizes`, measuring at each."""
    bases = family_bases(max(len(FAMILIES), min(480, max(sizes) // 200)), seed)
    texts = problem_texts(bases, seed)
    rng = random.Random(seed + 1)
    index = NearDupIndex()
    scope = RunScope(dedup=index)
    keys: list[str] = []
    rows: list[tuple[int, ...]] = []
    latest: deque[str] = deque(maxlen=2000)  # banked texts that copies are made of
    results = []
    for size in sorted(sizes):
        while len(index) < size:
            text = next(texts)
            if index.query(text):
                continue
            key = f"p{len(keys)}"
            rows.append(index.signature(text))
            index.add(key, text)
            keys.append(key)
            latest.append(text)
            scope.note_round(key, len(keys) // PER_ROUND)
        sigs = np.array(rows, dtype=np.uint64)
        fresh = lookups(index, sigs, keys, [next(texts) for _ in range(queries)])
        copies = [near_copy(rng.choice(latest), rng) for _ in range(queries)]
        last = len(keys) // PER_ROUND
        start = time.perf_counter()
        for _ in range(queries):
            scope.recent(last)
        recent_s = (time.perf_counter() - start) / queries
        start = time.perf_counter()  # the scan `recent` was before, for comparison
        for _ in range(queries):
            {k for k in index.keys() if scope.rounds.get(k, last) >= last}  # noqa: SIM118
        scan_s = (time.perf_counter() - start) / queries
        results.append(
            SizeResult(
                size=size,
                fresh=fresh,
                copies=lookups(index, sigs, keys, copies),
                recent_ms=1000 * recent_s,
                scan_ms=1000 * scan_s,
            )
        )
    return results


def main(argv: Sequence[str] | None = None) -> list[SizeResult]:
    """Print the table and the machine; return the figures (the test reads them)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    started = time.perf_counter()
    results = measure(sizes, args.queries, args.seed)
    print(
        f"{'bank':>7} {'draft':>6} {'median ms':>9} {'mean ms':>8} {'p95 ms':>7} {'scored':>7} "
        f"{'share a band':>12} {'hits':>5} {'signed+lookup mean ms':>21}"
    )
    for r in results:
        for kind, look in (("fresh", r.fresh), ("copy", r.copies)):
            print(
                f"{r.size:>7} {kind:>6} {look.median_ms:>9.4f} {look.mean_ms:>8.4f} "
                f"{look.p95_ms:>7.4f} {look.scored:>7.1f} {look.sharing_a_band:>12.1f} "
                f"{look.hits:>5.2f} {look.signed_mean_ms:>21.4f}"
            )
    print(f"{'bank':>7} {'recent ms':>10} {'full scan ms':>13}")
    for r in results:
        print(f"{r.size:>7} {r.recent_ms:>10.4f} {r.scan_ms:>13.3f}")
    print(
        f"{args.queries} lookups per size (median of each one's best of {REPEATS}); every "
        "answer equal to a brute-force scan; signed+lookup: the draft's MinHash computed "
        "afresh, as the critic pays for a new one"
    )
    print(f"built and measured in {time.perf_counter() - started:.0f} s; {machine_line()}")
    return results


if __name__ == "__main__":
    main()
