"""The bank survives restarts and never duplicates a replayed write."""

from pathlib import Path

from stepstones.tools.schema import (
    Attempt,
    Critique,
    Lineage,
    PerformanceSummary,
    Problem,
    Rejection,
    TestCase,
    TurnOutcome,
    Usage,
    Verdict,
)
from stepstones.tools.store import Bank


def _problem(n: int = 1) -> Problem:
    return Problem(
        statement=f"Add {n} to x.",
        tests=[TestCase(input="[1]", expected=str(1 + n))],
        reference_solution=f"def solve(x):\n    return x + {n}\n",
        lineage=Lineage(seed_id="s"),
    )


def test_idempotent_writes_and_reopen(tmp_path: Path) -> None:
    path = tmp_path / "bank.sqlite"
    bank = Bank(path)
    bank.start_run("r", {"a": 1})
    p = _problem()
    attempt = Attempt(
        problem_id=p.id,
        student="s",
        sample=0,
        code="x",
        verdict=Verdict(status="passed", passed=1, total=1),
    )
    for _ in range(3):  # a replayed node writes the same rows again
        bank.put_turn_result(
            "r",
            "L1",
            p,
            [attempt],
            PerformanceSummary(problem_id=p.id, pass_rate=1.0, students=[]),
            TurnOutcome(
                lineage_id="L1",
                seed_id="s",
                turn=0,
                direction="seed",
                teacher_calls=1,
                problem_id=p.id,
                valid=True,
            ),
        )
        bank.put_rejection(
            "r",
            "L1",
            0,
            0,
            p,
            Critique(valid=False, rejections=[Rejection(code="weak_tests", message="m")]),
        )
    bank.set_usage("r", [Usage(agent="teacher", calls=2, input_tokens=5)])
    bank.close()

    bank = Bank(path)
    assert bank.count("problems", "r") == 1
    assert bank.count("attempts", "r") == 1
    assert bank.count("turns", "r") == 1
    assert bank.count("rejections", "r") == 1
    assert [q.id for q in bank.problems("r")] == [p.id]
    assert bank.problem("r", p.id) == p
    assert next(bank.attempts("r", p.id)) == attempt
    assert bank.rejections("r")[0]["codes"] == ["weak_tests"]
    assert bank.usage("r")[0].input_tokens == 5
    assert bank.get_run("r")["status"] == "running"
    bank.finish_run("r", "finished", {"ok": True})
    assert bank.get_run("r")["status"] == "finished"


def test_runs_are_separate(tmp_path: Path) -> None:
    bank = Bank(tmp_path / "b.sqlite")
    p = _problem()
    bank.put_problem("r1", "L", p, valid=True)
    bank.put_problem("r2", "L", p, valid=False)
    assert len(list(bank.problems("r1"))) == 1
    assert list(bank.problems("r2")) == []
    assert len(list(bank.problems("r2", valid_only=False))) == 1


def test_usage_adds_up_over_the_sessions_of_a_resumed_run(tmp_path: Path) -> None:
    bank = Bank(tmp_path / "b.sqlite")
    bank.set_usage("r", [Usage(agent="teacher", model="m", calls=2, input_tokens=5)], "first")
    bank.set_usage("r", [Usage(agent="teacher", model="m", calls=3, input_tokens=7)], "first")
    bank.set_usage("r", [Usage(agent="teacher", model="m", calls=1, input_tokens=1)], "second")
    (u,) = bank.usage("r")
    assert (u.calls, u.input_tokens) == (4, 8)  # a session's later totals replace its earlier


def test_the_duplicate_lookup_before_each_banked_turn_reads_an_index(tmp_path: Path) -> None:
    """put_turn_result asks whether another turn banked the problem: a search of an index on
    the turn records' problem id, not a scan that parses every turn record of the run (O(n) a
    turn, so O(n^2) a run)."""
    bank = Bank(tmp_path / "bank.sqlite")
    statements: list[str] = []
    bank.db.conn.set_trace_callback(statements.append)
    bank._valid_holder("r", "p")
    bank.db.conn.set_trace_callback(None)
    lookup = next(s for s in statements if "from turns" in s)
    plan = bank.db.execute(f"explain query plan {lookup}").fetchall()
    assert any("USING INDEX turns_problem_id" in str(row[-1]) for row in plan), plan
    bank.close()
