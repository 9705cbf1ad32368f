"""Quotas are caps: a band holds at most its quota, and what lands in a full band is surplus.

A round's turns run together, and a turn steered at one band can land in another, so a band
can be met by more problems than it has slots left. The run counts its turns in one fixed
order (round, then lineage id), and a valid problem that lands in a band already holding its
quota is surplus: it stays in the bank (valid, with its band and pass rate, in the duplicate
index) but counts in no band's total, and an export leaves it out unless asked for it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping

from stepstones.tools.schema import TurnOutcome


def counting_order(outcome: TurnOutcome) -> tuple[int, str, int]:
    """The order a run counts its turns in: by round, then lineage id (the order the
    scheduler sends them in), then turn."""
    return (outcome.round, outcome.lineage_id, outcome.turn)


def split_quota(
    outcomes: Iterable[TurnOutcome], quotas: Mapping[str, int]
) -> tuple[Counter[str], list[TurnOutcome]]:
    """Problems each band holds (never above its quota), and the surplus turns, counted in
    `counting_order`. Only bands named in `quotas` are counted; too easy / too hard turns and
    invalid ones are neither."""
    held: Counter[str] = Counter()
    surplus: list[TurnOutcome] = []
    for o in sorted(outcomes, key=counting_order):
        band = o.band
        if not o.valid or band is None or band not in quotas:
            continue
        if held[band] < quotas[band]:
            held[band] += 1
        else:
            surplus.append(o)
    return held, surplus
