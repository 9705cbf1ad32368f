"""`RunScope.recent` answers what a scan of every indexed key answered, reading only the rounds
it is asked about (it runs before every critique, so it must not grow with the bank)."""

from __future__ import annotations

import random

from stepstones.graphs.components import RunScope


def scan(scope: RunScope, indexed: list[str], round_: int) -> set[str]:
    """The definition: indexed problems whose round is unknown or not before `round_`."""
    return {k for k in indexed if scope.rounds.get(k, round_) >= round_}


def test_recent_matches_a_scan_of_every_key() -> None:
    rng = random.Random(7)
    scope = RunScope()
    indexed: list[str] = []
    for i in range(400):
        key = f"p{i % 350}"  # some keys come back: the first round noted wins
        if key not in indexed:
            indexed.append(key)
        if rng.random() < 0.1 and key not in scope.rounds:
            scope.unknown.add(key)  # loaded from a bank without its turn record
        else:
            scope.note_round(key, i // 20 + rng.choice([0, 0, 1]))
    assert scope.unknown and scope.rounds
    for round_ in range(0, 25):
        assert scope.recent(round_) == scan(scope, indexed, round_), round_


class CountingDict(dict[int, set[str]]):
    """A dict that records which rounds were read."""

    def __init__(self, *args: object) -> None:
        super().__init__(*args)  # type: ignore[arg-type]
        self.read: list[int] = []

    def get(self, key: int, default: set[str] | None = None) -> set[str] | None:  # type: ignore[override]
        self.read.append(key)
        return super().get(key, default)


def test_recent_reads_only_the_rounds_from_the_one_asked_about() -> None:
    scope = RunScope()
    for i in range(10_000):
        scope.note_round(f"p{i}", i // 16)
    scope.by_round = CountingDict(scope.by_round)
    newest = scope.newest
    assert scope.recent(newest) == {f"p{i}" for i in range(newest * 16, 10_000)}
    assert scope.by_round.read == [newest]
    assert scope.recent(newest - 2) == {f"p{i}" for i in range((newest - 2) * 16, 10_000)}
    assert scope.by_round.read == [newest, newest - 2, newest - 1, newest]
