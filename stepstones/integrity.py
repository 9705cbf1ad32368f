"""Do the bank and the checkpoints agree? Checked when a run starts, resumes and ends.

The checkpoints say which turns a run has finished; the bank must hold each of them (its turn
record, and for a valid turn its problem) and the run itself. The bank may hold more than the
checkpoints while a run is under way: a killed run leaves the writes of its last, unfinished
round, which a resume replays onto the same rows. What it must never do is hold less, as after
a deleted bank file or a cut-off write-ahead log: then the report would count problems the bank
does not have. A mismatch is a `BankMismatch` naming what is missing, never a silent exit 0.

The end check opens the bank file afresh instead of reusing the run's connection: a bank
deleted mid-run is still written through the open file handle, and only a new connection sees
that the file at the path is gone.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from stepstones.tools.schema import TurnOutcome
from stepstones.tools.store import Bank

SHOWN = 5
"""Missing items named in the message; the rest are counted."""


class BankMismatch(RuntimeError):
    """The bank lacks what the checkpoints say the run has (or the reverse, at the end)."""


def _names(items: Sequence[str]) -> str:
    more = len(items) - SHOWN
    return ", ".join(items[:SHOWN]) + (f" and {more} more" if more > 0 else "")


def _turn_name(o: TurnOutcome) -> str:
    return f"{o.lineage_id} turn {o.turn}"


def mismatches(
    bank: Bank, run_id: str, outcomes: Sequence[TurnOutcome], *, exact: bool = False
) -> list[str]:
    """What the bank lacks of `outcomes` (the checkpointed turns), in words; empty if none.

    With `exact` (a finished run), turn records the checkpoints do not have count too.
    """
    if bank.get_run(run_id) is None:
        return [
            f"it has no record of run {run_id}"
            + (f" nor any of its {len(outcomes)} turns" if outcomes else "")
        ]
    banked = {(t.lineage_id, t.turn): t for t in bank.turns(run_id)}
    valid = bank.valid_problem_ids(run_id)
    lost_turns, wrong_turns, lost_problems = [], [], []
    for o in outcomes:
        got = banked.get((o.lineage_id, o.turn))
        if got is None:
            lost_turns.append(_turn_name(o))
        elif (got.valid, got.problem_id) != (o.valid, o.problem_id):
            wrong_turns.append(_turn_name(o))
        elif o.valid and o.problem_id not in valid:
            lost_problems.append(o.problem_id or "?")
    found = []
    if lost_turns:
        found.append(f"it lacks {len(lost_turns)} of {len(outcomes)} turns ({_names(lost_turns)})")
    if wrong_turns:
        found.append(f"it records {len(wrong_turns)} turns differently ({_names(wrong_turns)})")
    if lost_problems:
        found.append(f"it lacks {len(lost_problems)} valid problems ({_names(lost_problems)})")
    if exact:
        known = {(o.lineage_id, o.turn) for o in outcomes}
        extra = [f"{lid} turn {t}" for (lid, t) in sorted(banked) if (lid, t) not in known]
        if extra:
            found.append(f"it holds {len(extra)} turns the checkpoints do not ({_names(extra)})")
    return found


def verify(
    bank_path: Path, run_id: str, outcomes: Sequence[TurnOutcome], *, when: str, exact: bool = False
) -> None:
    """Raise BankMismatch unless the bank file at `bank_path` holds the checkpointed turns."""
    if not bank_path.exists():
        raise BankMismatch(
            f"{when}: the bank {bank_path} is gone, but the checkpoints of run {run_id} hold "
            f"{len(outcomes)} turns ({sum(o.valid for o in outcomes)} valid problems) it "
            "should have; the run's output is lost (start a new run)"
        )
    bank = Bank(bank_path)
    try:
        found = mismatches(bank, run_id, outcomes, exact=exact)
    finally:
        bank.close()
    if found:
        raise BankMismatch(
            f"{when}: the bank {bank_path} does not match the checkpoints of run {run_id}: "
            f"{'; '.join(found)} (was the bank or its -wal file deleted, truncated or "
            "replaced?)"
        )
