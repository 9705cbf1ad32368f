"""A synthetic bank of N banked problems, for benchmarks of what reads a large bank.

Each problem is written with what a banked turn of a real run leaves (`Bank.put_turn_result`):
the problem (a statement of a few hundred characters, 14 tests, a reference and three known
wrong solutions), 3 students x 4 samples of attempts with their verdicts, the performance
summary with shown solutions, and the turn record. Lineages of five turns share a seed.
Statements are seeded pseudo-words around six task templates with varied constants (six
reference shapes), so problems are distinct (the export's near-duplicate screen keeps them)
and the same N and seed always give the same bank.

Rows are built by the bank's own row builders and written in batches of `BATCH` problems a
transaction: `put_turn_result` looks up the problem among the run's turns on every call (one
scan of the turns each), which a real run pays once per turn but N of which would take hours.

    python -m stepstones.evals.bank_fixture --out /tmp/bank100k.sqlite --problems 100000
"""

from __future__ import annotations

import argparse
import random
import time
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from stepstones.tools.schema import (
    Attempt,
    Lineage,
    PerformanceSummary,
    Problem,
    ShownSolution,
    StudentStats,
    TestCase,
    TestOutcome,
    TurnOutcome,
    Verdict,
)
from stepstones.tools.store import Bank

RUN_ID = "bench"
STUDENTS = ("sim:novice", "sim:intermediate", "sim:expert")
SAMPLES = 4
TURNS_PER_LINEAGE = 5
BATCH = 1000
Batch = list[tuple[str, list[dict[str, Any]]]]
BANDS = (("hard", 0.0, 1 / 3), ("medium", 1 / 3, 2 / 3), ("easy", 2 / 3, 1.0))
_SYLLABLES = [c + v for c in "bcdfghjklmnprstvwz" for v in "aeiou"]
_TEMPLATES = (
    ("count the elements x of xs with x % k == {r}",
     "    total = 0\n    for x in xs:\n        if x % k == {r}:\n            total += 1\n"
     "    return total + {n}\n"),
    ("sum the elements of xs greater than k + {r}",
     "    return sum(x for x in xs if x > k + {r}) + {n}\n"),
    ("find the longest run of equal neighbours in xs, ignoring values below {r}",
     "    best = cur = 0\n    prev = None\n    for x in xs:\n        if x < {r}:\n"
     "            prev, cur = None, 0\n            continue\n        cur = cur + 1 if x == prev "
     "else 1\n        best, prev = max(best, cur), x\n    return best + {n} - {n}\n"),
    ("return the k-th smallest distinct value of xs, or {r} when there is none",
     "    values = sorted(set(xs))\n    return values[k - 1] if 0 < k <= len(values) else {r}\n"),
    ("count the pairs i < j with xs[i] + xs[j] divisible by k + {r}",
     "    m = k + {r}\n    seen = {{}}\n    pairs = 0\n    for x in xs:\n"
     "        pairs += seen.get((-x) % m, 0)\n        seen[x % m] = seen.get(x % m, 0) + 1\n"
     "    return pairs\n"),
    ("return the prefix sums of xs modulo k + {r}, as a list",
     "    out, acc = [], 0\n    for x in xs:\n        acc = (acc + x) % (k + {r})\n"
     "        out.append(acc)\n    return out\n"),
)  # fmt: skip


def _word(rng: random.Random) -> str:
    return "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 4)))


def _statement(rng: random.Random, n: int) -> str:
    task = _TEMPLATES[n % len(_TEMPLATES)][0].format(r=n % 11)
    story = " ".join(_word(rng) for _ in range(110))
    return (
        f"Problem {n}. In the land of {_word(rng)}, {story}. Given a list of integers xs and "
        f"a positive integer k, {task}; add {n} where the answer is a count."
    )


def _reference(n: int) -> str:
    body = _TEMPLATES[n % len(_TEMPLATES)][1].format(r=n % 11, n=n)
    return f"def solve(xs, k):\n    # variant {n}\n{body}"


def _problem(rng: random.Random, n: int, lineage: Lineage, rate: float) -> Problem:
    band = next(name for name, lo, hi in BANDS if lo <= rate <= hi)
    tests = [
        TestCase(input=f"[[{i}, {i + 3}, {i * 7}, {n % 97}], {2 + i % 5}]", expected=str(n + i % 3))
        for i in range(14)
    ]
    wrong = {kind: _reference(n).replace(" + ", f" + {d} + ", 1) for kind, d in
             (("off_by_one", 1), ("sign", -1), ("constant", 7))}  # fmt: skip
    return Problem(
        title=f"Count residues {n}",
        statement=_statement(rng, n),
        tests=tests,
        reference_solution=_reference(n),
        lineage=lineage,
        time_limit_s=0.5,
        wrong_solutions=wrong,
        band=band,
        pass_rate=rate,
        pass_rates={s: rate for s in STUDENTS},
    )


def _attempts(problem: Problem, passed: int) -> list[Attempt]:
    out = []
    for s, student in enumerate(STUDENTS):
        for k in range(SAMPLES):
            ok = (s * SAMPLES + k) < passed
            tests = [
                TestOutcome(index=i, status="passed" if ok else "wrong_answer",
                            output=t.expected if ok else "0", expected=t.expected, cpu_s=0.001)
                for i, t in enumerate(problem.tests)
            ]  # fmt: skip
            verdict = Verdict(
                status="passed" if ok else "wrong_answer",
                passed=len(tests) if ok else 0,
                total=len(tests),
                tests=tests,
                isolation="bwrap+rlimits",
                cpu_s=0.01,
                wall_s=0.02,
            )
            code = problem.reference_solution if ok else problem.wrong_solutions["off_by_one"]
            raw = f"Here is my solution.\n```python\n{code}```\n"
            out.append(Attempt(problem_id=problem.id, student=student, sample=k, code=code,
                               raw=raw, verdict=verdict))  # fmt: skip
    return out


def _summary(problem: Problem, attempts: list[Attempt]) -> PerformanceSummary:
    stats = []
    for student in STUDENTS:
        mine = [a for a in attempts if a.student == student]
        passed = sum(a.verdict.ok for a in mine)
        stats.append(StudentStats(student=student, samples=len(mine), passed=passed,
                                  pass_rate=passed / len(mine),
                                  failures={"wrong_answer": len(mine) - passed}))  # fmt: skip
    shown = [
        ShownSolution(student=a.student, sample=a.sample, passed=a.verdict.ok,
                      code=a.code or "", failure=None if a.verdict.ok else "input [[1]] got 0")
        for a in attempts[:: SAMPLES * 2]
    ]  # fmt: skip
    return PerformanceSummary(
        problem_id=problem.id,
        pass_rate=problem.pass_rate or 0.0,
        students=stats,
        failures={"wrong_answer": sum(not a.verdict.ok for a in attempts)},
        examples=[
            f"input [[{i}, 4, 7, 5], 2]: expected {n}, got 0" for i, n in enumerate(range(4))
        ],
        solutions=shown,
        text=f"pass rate {problem.pass_rate:.2f}; wrong answers on the modulo case. " * 12,
    )


def _config(counts: Mapping[str, int], surplus: float) -> dict[str, Any]:
    quotas = {b: round(counts.get(b, 0) * (1 - surplus)) for b, _, _ in BANDS}
    bands = [{"name": b, "lo": lo, "hi": hi, "quota": quotas[b]} for b, lo, hi in BANDS]
    return {"bands": bands, "teacher": "procedural", "students": list(STUDENTS),
            "samples": SAMPLES, "seed": 0}  # fmt: skip


def write_bank(path: str | Path, problems: int, *, seed: int = 0, surplus: float = 0.0) -> Path:
    """Write a finished run `bench` of `problems` banked problems to a new bank at `path`.

    Each band's quota is set, once its problems are known, to `1 - surplus` of them, so that a
    `surplus` fraction of every band landed in it when it was full (the last ones in the
    counting order), as an overshooting run leaves them; 0 gives quotas the bands just fill.
    """
    path = Path(path)
    if path.exists():
        raise FileExistsError(f"{path} exists; the fixture writes a new bank")
    bank = Bank(path)
    try:
        bank.start_run(RUN_ID, _config({}, surplus))
        rng = random.Random(seed)
        samples = len(STUDENTS) * SAMPLES
        batch: Batch = []
        parent: Problem | None = None
        counts: Counter[str] = Counter()
        for n in range(problems):
            turn = n % TURNS_PER_LINEAGE
            lineage_id = f"L{n // TURNS_PER_LINEAGE:06d}"
            if turn == 0:
                parent = None
            passed = rng.randint(1, samples - 1)
            lineage = Lineage(
                seed_id=f"seed{n // TURNS_PER_LINEAGE}",
                root_id=None if parent is None else parent.lineage.root_id or parent.id,
                parent_id=None if parent is None else parent.id,
                turn=turn,
                direction="seed" if parent is None else rng.choice(["harder", "easier"]),
            )
            problem = _problem(rng, n, lineage, passed / samples)
            counts[problem.band or ""] += 1
            attempts = _attempts(problem, passed)
            outcome = TurnOutcome(
                lineage_id=lineage_id, seed_id=lineage.seed_id, turn=turn,
                round=n // 1000,
                direction=lineage.direction, teacher_calls=1, problem_id=problem.id,
                valid=True, band=problem.band, pass_rate=problem.pass_rate,
                answered=list(STUDENTS),
            )  # fmt: skip
            batch += [
                ("problems", [Bank._problem_row(RUN_ID, lineage_id, problem, valid=True)]),
                ("attempts", Bank._attempt_rows(RUN_ID, attempts)),
                ("summaries", [Bank._summary_row(RUN_ID, _summary(problem, attempts))]),
                ("turns", [Bank._turn_row(RUN_ID, outcome)]),
            ]
            parent = problem
            if len(batch) >= 4 * BATCH or n == problems - 1:
                bank._write(_merged(batch))
                batch = []
        bank.start_run(RUN_ID, _config(counts, surplus))  # the quotas, now that bands are known
        bank.finish_run(RUN_ID, "finished", {})
    finally:
        bank.close()
    return path


def _merged(
    batch: list[tuple[str, list[dict[str, Any]]]],
) -> list[tuple[str, list[dict[str, Any]]]]:
    """One (table, rows) entry per table, so a batch is one executemany per table."""
    tables: dict[str, list[dict[str, Any]]] = {}
    for table, rows in batch:
        tables.setdefault(table, []).extend(rows)
    return list(tables.items())


def main(argv: list[str] | None = None) -> None:
    """Write a bank and say how long it took."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="new bank file to write")
    parser.add_argument("--problems", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--surplus", type=float, default=0.0, help="share of a band past its quota")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    write_bank(args.out, args.problems, seed=args.seed, surplus=args.surplus)
    size = args.out.stat().st_size / 2**20
    print(f"{args.problems} problems -> {args.out} ({size:.0f} MiB) in "
          f"{time.perf_counter() - start:.1f} s")  # fmt: skip


if __name__ == "__main__":
    main()
