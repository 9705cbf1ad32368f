"""The bank and the checkpoints: what the bank lacks is named, never passed over."""

from __future__ import annotations

from pathlib import Path

import pytest

from stepstones.integrity import BankMismatch, mismatches, verify
from stepstones.tools.schema import PerformanceSummary, TurnOutcome
from stepstones.tools.store import Bank
from tests.fakes import make_problem


def _turn(bank: Bank, lineage: str, turn: int) -> TurnOutcome:
    problem = make_problem(statement=f"Sort the list ({lineage} {turn}).")
    outcome = TurnOutcome(
        lineage_id=lineage,
        seed_id="s",
        turn=turn,
        round=turn,
        direction="seed",
        teacher_calls=1,
        problem_id=problem.id,
        valid=True,
        band="all",
        pass_rate=0.5,
    )
    summary = PerformanceSummary(problem_id=problem.id, pass_rate=0.5, students=[])
    assert bank.put_turn_result("r", lineage, problem, [], summary, outcome) is None
    return outcome


def test_a_bank_holding_every_checkpointed_turn_matches(tmp_path: Path) -> None:
    bank = Bank(tmp_path / "bank.sqlite")
    bank.start_run("r", {})
    outcomes = [_turn(bank, "L0", 0), _turn(bank, "L0", 1)]
    assert mismatches(bank, "r", outcomes, exact=True) == []
    # Ahead of the checkpoints (a killed run's last round) is fine until the run ends.
    assert mismatches(bank, "r", outcomes[:1]) == []
    assert "L0 turn 1" in mismatches(bank, "r", outcomes[:1], exact=True)[0]


def test_missing_turns_and_problems_are_named(tmp_path: Path) -> None:
    bank = Bank(tmp_path / "bank.sqlite")
    bank.start_run("r", {})
    kept = _turn(bank, "L0", 0)
    lost = kept.model_copy(update={"lineage_id": "L1"})
    gone = _turn(bank, "L2", 0)
    bank.db.execute("delete from problems where id = ?", [gone.problem_id])
    bank.db.conn.commit()
    found = mismatches(bank, "r", [kept, lost, gone])
    assert any("1 of 3 turns (L1 turn 0)" in f for f in found)
    assert any(f"1 valid problems ({gone.problem_id})" in f for f in found)
    bank.close()
    with pytest.raises(BankMismatch, match=r"on resume: .* does not match"):
        verify(tmp_path / "bank.sqlite", "r", [kept, lost], when="on resume")


def test_a_deleted_bank_is_named(tmp_path: Path) -> None:
    outcome = TurnOutcome(
        lineage_id="L0",
        seed_id="s",
        turn=0,
        round=0,
        direction="seed",
        teacher_calls=1,
        valid=False,
    )
    with pytest.raises(BankMismatch, match="is gone"):
        verify(tmp_path / "bank.sqlite", "r", [outcome], when="at the end of the run")
    assert not (tmp_path / "bank.sqlite").exists()


def test_an_unknown_run_is_named(tmp_path: Path) -> None:
    bank = Bank(tmp_path / "bank.sqlite")
    assert mismatches(bank, "r", []) == ["it has no record of run r"]
