"""A synthetic bank of N banked problems, for benchmarks of what reads a large bank.

Each problem is written with what a banked turn of a real run leaves (`Bank.put_turn_result`):
the problem (a statement of a few hundred characters, 14 tests, a reference and three known
wrong solutions), 3 students x 4 samples of attempts with their verdicts, the performance
summary with shown solutions, and the turn record. Lineages of five turns share a seed.
Statements are drawn from a seeded word list, so problems are distinct (the export's
near-duplicate screen keeps them) and the same N and seed always give the same bank.

Rows are built by the bank's own row builders and written in batches of `BATCH` problems a
transaction: `put_turn_result` looks up the problem among the run's turns on every call (one
scan of the turns each), which a real run pays once per turn but N of which would take hours.

    python -m stepstones.evals.bank_fixture --out /tmp/bank100k.sqlite --problems 100000
"""

from __future__ import annotations

import argparse
import random
import time
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
_VOCAB = (
    "list integer string count return maximum minimum sum pair window prefix suffix sorted "
    "distinct element index value digit even odd prime divisor interval overlap merge balance "
    "bracket path grid row column cell neighbour step jump stone river bridge lamp switch "
    "token word letter vowel palindrome rotation shift cipher key lock door room floor "
    "tower stack queue heap tree node edge weight cost budget price coin change ticket"
)
_WORDS = _VOCAB.split()


def _statement(rng: random.Random, n: int) -> str:
    words = " ".join(rng.choice(_WORDS) for _ in range(180))
    return (
        f"Problem {n}: given a list of integers xs and an integer k, {words}. Return the "
        f"number of elements x of xs with x % k == {n % 7} plus {n}."
    )


def _reference(n: int) -> str:
    return (
        "def solve(xs, k):\n"
        f"    # counts the elements congruent to {n % 7} modulo k\n"
        "    total = 0\n"
        "    for x in xs:\n"
        f"        if x % k == {n % 7}:\n"
        "            total += 1\n"
        f"    return total + {n}\n"
    )


def _problem(rng: random.Random, n: int, lineage: Lineage, rate: float) -> Problem:
    band = next(name for name, lo, hi in BANDS if lo <= rate <= hi)
    tests = [
        TestCase(input=f"[[{i}, {i + 3}, {i * 7}, {n % 97}], {2 + i % 5}]", expected=str(n + i % 3))
        for i in range(14)
    ]
    wrong = {kind: _reference(n).replace("+= 1", f"+= {d}") for kind, d in
             (("off_by_one", 2), ("sign", -1), ("constant", 0))}  # fmt: skip
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


def _config(problems: int, surplus: float) -> dict[str, Any]:
    quota = max(1, round(problems * (1 - surplus) / len(BANDS)))
    bands = [{"name": b, "lo": lo, "hi": hi, "quota": quota} for b, lo, hi in BANDS]
    return {"bands": bands, "teacher": "procedural", "students": list(STUDENTS),
            "samples": SAMPLES, "seed": 0}  # fmt: skip


def write_bank(path: str | Path, problems: int, *, seed: int = 0, surplus: float = 0.0) -> Path:
    """Write a finished run `bench` of `problems` banked problems to a new bank at `path`.

    Band quotas are set so that a `surplus` fraction of the problems land in full bands (their
    turns come last in the counting order), as an overshooting run leaves them.
    """
    path = Path(path)
    if path.exists():
        raise FileExistsError(f"{path} exists; the fixture writes a new bank")
    bank = Bank(path)
    try:
        bank.start_run(RUN_ID, _config(problems, surplus))
        rng = random.Random(seed)
        samples = len(STUDENTS) * SAMPLES
        batch: Batch = []
        parent: Problem | None = None
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
            attempts = _attempts(problem, passed)
            outcome = TurnOutcome(
                lineage_id=lineage_id, seed_id=lineage.seed_id, turn=turn,
                round=n // 1000 if n < problems * (1 - surplus) else problems,
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
    parser.add_argument("--surplus", type=float, default=0.0, help="fraction past the quotas")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    write_bank(args.out, args.problems, seed=args.seed, surplus=args.surplus)
    size = args.out.stat().st_size / 2**20
    print(f"{args.problems} problems -> {args.out} ({size:.0f} MiB) in "
          f"{time.perf_counter() - start:.1f} s")  # fmt: skip


if __name__ == "__main__":
    main()
