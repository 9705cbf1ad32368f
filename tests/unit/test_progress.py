"""The live progress table shows bands filling, turns, yield and tokens."""

from __future__ import annotations

from rich.console import Console

from stepstones.commands.run import _table
from stepstones.runner import Progress
from stepstones.tools.schema import TurnOutcome


def test_progress_table_shows_bands_yield_and_tokens() -> None:
    outcomes = [
        TurnOutcome(
            lineage_id="L0",
            seed_id="s",
            turn=0,
            direction="seed",
            teacher_calls=2,
            problem_id="p",
            valid=True,
            band="easy",
            pass_rate=0.9,
        )
    ]
    p = Progress(
        run_id="r",
        outcomes=outcomes,
        bands={"easy": (1, 8), "hard": (0, 8)},
        teacher_calls=2,
        tokens=1234,
    )
    console = Console(record=True, width=120)
    console.print(_table(p))
    text = " ".join(console.export_text().split())  # the caption wraps to the table width
    assert "1/8" in text and "0/8" in text
    assert "yield/call 0.50" in text and "tokens 1234" in text and "teacher calls 2" in text
