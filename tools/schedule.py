"""Curriculum orderings of a bank's problems: by band, stepping stones, band mixtures.

The paper (arXiv 2603.24202, section 5) found uniform and classic easy-to-hard orderings
overfit to easy problems and a reverse curriculum starting at medium best, so the default
order is `medium_first` (medium, then harder, then easier bands); `easy_to_hard` and
`hard_to_easy` stay available. Orderings that change with the RL step, and the online one,
are samplers in `tools/curricula.py`.

A trainer that reads a dataset front to back (verl and TRL without shuffling) follows the order
rows are written in, so the exporter writes rows in one of these orders and tags each with its
`curriculum_index` and `stage`. Everything here is a pure function of the problems (and a seed),
so the same bank always exports the same order.
"""

from __future__ import annotations

import random
from collections import defaultdict, deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, Literal, Protocol, TypeVar

from stepstones.tools.schema import Lineage

ScheduleName = Literal["medium_first", "hard_to_easy", "easy_to_hard", "lineage", "mix"]
SCHEDULES: tuple[ScheduleName, ...] = (
    "medium_first", "hard_to_easy", "easy_to_hard", "lineage", "mix")  # fmt: skip
DEFAULT_SCHEDULE: ScheduleName = "medium_first"
"""The export's order: the paper's best curriculum is reverse, starting at medium."""
UNBANDED = "unbanded"
MEDIUM = "medium"


class Ranked(Protocol):
    """What an ordering reads of a problem: a `Problem`, or the exporter's light key of one
    (orderings of a large bank are computed without the problems' text)."""

    @property
    def id(self) -> str: ...
    @property
    def band(self) -> str | None: ...
    @property
    def pass_rate(self) -> float | None: ...
    @property
    def lineage(self) -> Lineage: ...


P = TypeVar("P", bound=Ranked)


@dataclass(frozen=True)
class Step(Generic[P]):
    """One problem's place in a curriculum: position, and the stage it belongs to."""

    problem: P
    index: int
    stage: str


@dataclass(frozen=True)
class BandRange:
    """A band's pass-rate interval as the run configured it (lo, hi]."""

    name: str
    lo: float
    hi: float


def bands_from_config(config: Mapping[str, object]) -> list[BandRange]:
    """The bands of a stored run config (`{"bands": [{"name", "lo", "hi", ...}]}`), or []."""
    raw = config.get("bands")
    if not isinstance(raw, list):
        return []
    out = []
    for b in raw:
        if isinstance(b, dict) and {"name", "lo", "hi"} <= b.keys():
            out.append(BandRange(str(b["name"]), float(b["lo"]), float(b["hi"])))
    return out


def _pass_rate(problem: Ranked) -> float:
    return problem.pass_rate if problem.pass_rate is not None else 0.0


def band_order(problems: Iterable[Ranked], bands: Sequence[BandRange] = ()) -> list[str]:
    """Band names from easiest to hardest: highest pass-rate range first.

    A band the run config does not describe is placed by the mean pass rate of its problems;
    problems without a band form a last stage, `unbanded`.
    """
    rates: dict[str, list[float]] = defaultdict(list)
    for p in problems:
        rates[p.band or UNBANDED].append(_pass_rate(p))
    centre = {b.name: (b.lo + b.hi) / 2 for b in bands}
    names = set(rates) - {UNBANDED}

    def key(name: str) -> tuple[float, str]:
        mid = centre.get(name)
        if mid is None:
            mid = sum(rates[name]) / len(rates[name])
        return (-mid, name)

    ordered = sorted(names, key=key)
    return [*ordered, UNBANDED] if UNBANDED in rates else ordered


def medium_first_order(names: Sequence[str]) -> list[str]:
    """Bands given easiest to hardest, reordered to start at medium: medium, harder, easier.

    The paper's best curriculum is "reverse, starting at medium"; PAPER.md does not say where
    the bands easier than medium go, so this reading is ours: after medium come the harder
    bands (next-hardest first), then the easier ones from the hardest of them down, so the
    easiest band, the one the paper saw policies overfit to, comes last. The medium band is
    the one named `medium`, else the middle one (the harder of two middles).
    """
    order = [n for n in names if n != UNBANDED]
    if not order:
        return list(names)
    mid = order.index(MEDIUM) if MEDIUM in order else len(order) // 2
    ranked = [order[mid], *order[mid + 1 :], *reversed(order[:mid])]
    return [*ranked, UNBANDED] if UNBANDED in names else ranked


def by_band(
    problems: Iterable[P],
    bands: Sequence[BandRange] = (),
    *,
    direction: Literal["easy_to_hard", "hard_to_easy", "medium_first"] = "easy_to_hard",
) -> list[Step[P]]:
    """Band by band in `direction`; inside a band, highest pass rate first. Stages are bands.

    Unbanded problems always come last (their difficulty is unknown).
    """
    items = list(problems)
    names = band_order(items, bands)
    if direction == "hard_to_easy":
        ranked = [n for n in reversed(names) if n != UNBANDED]
        names = [*ranked, UNBANDED] if UNBANDED in names else ranked
    elif direction == "medium_first":
        names = medium_first_order(names)
    rank = {name: i for i, name in enumerate(names)}
    ordered = sorted(items, key=lambda p: (rank[p.band or UNBANDED], -_pass_rate(p), p.id))
    return [Step(p, i, p.band or UNBANDED) for i, p in enumerate(ordered)]


def easy_to_hard(problems: Iterable[P], bands: Sequence[BandRange] = ()) -> list[Step[P]]:
    """Band by band from easiest to hardest (the classic curriculum)."""
    return by_band(problems, bands, direction="easy_to_hard")


def lineage_roots(problems: Sequence[Ranked]) -> dict[str, str]:
    """Problem id -> lineage key: the recorded root, else the oldest ancestor found by parents."""
    by_id = {p.id: p for p in problems}
    roots: dict[str, str] = {}
    for p in problems:
        if p.lineage.root_id:
            roots[p.id] = p.lineage.root_id
            continue
        node, seen = p, {p.id}
        while node.lineage.parent_id in by_id and node.lineage.parent_id not in seen:
            node = by_id[node.lineage.parent_id]
            seen.add(node.id)
        roots[p.id] = node.lineage.root_id or (
            node.id if node.lineage.parent_id is None else node.lineage.parent_id
        )
    return roots


def _depth(problem: Ranked, by_id: Mapping[str, Ranked]) -> int:
    depth, node, seen = 0, problem, {problem.id}
    while (parent := node.lineage.parent_id) is not None and parent in by_id and parent not in seen:
        node = by_id[parent]
        seen.add(node.id)
        depth += 1
    return depth


def lineage_order(problems: Iterable[P]) -> list[Step[P]]:
    """Stepping-stone order: each lineage from its easiest to its hardest problem, interleaved.

    Problems are grouped by lineage (recorded root, else parent links); within a lineage they go
    from highest to lowest pass rate, a parent before its child on ties. Lineages are then taken
    in turns (the easiest stone of every lineage, then the second, ...): stage `step_K` holds the
    K-th stone of every lineage, so a trainer meets each hard problem after its easier relatives.
    """
    items = list(problems)
    by_id = {p.id: p for p in items}
    roots = lineage_roots(items)
    groups: dict[str, list[P]] = defaultdict(list)
    for p in items:
        groups[roots[p.id]].append(p)
    chains = [
        sorted(g, key=lambda p: (-_pass_rate(p), _depth(p, by_id), p.lineage.turn, p.id))
        for g in groups.values()
    ]
    chains.sort(key=lambda c: (-_pass_rate(c[0]), roots[c[0].id]))
    steps: list[Step[P]] = []
    for k in range(max((len(c) for c in chains), default=0)):
        for chain in chains:
            if k < len(chain):
                steps.append(Step(chain[k], len(steps), f"step_{k}"))
    return steps


def parse_mix(text: str) -> dict[str, float]:
    """`hard=0.2,medium=0.5,easy=0.3` -> ratios normalised to sum 1 (ValueError if malformed)."""
    ratios: dict[str, float] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        name, sep, value = part.partition("=")
        try:
            ratio = float(value)
        except ValueError:
            ratio = -1.0
        if not sep or not name.strip() or ratio < 0:
            raise ValueError(f"mix entry {part!r} must be BAND=RATIO with RATIO >= 0")
        ratios[name.strip()] = ratios.get(name.strip(), 0.0) + ratio
    return _normalised(ratios)


def _normalised(ratios: Mapping[str, float]) -> dict[str, float]:
    total = sum(ratios.values())
    if not ratios or total <= 0:
        raise ValueError("a mix needs at least one band with a positive ratio")
    return {name: r / total for name, r in ratios.items() if r > 0}


def mixture(
    problems: Iterable[P],
    ratios: Mapping[str, float],
    *,
    seed: int = 0,
    size: int | None = None,
) -> list[Step[P]]:
    """A sequence whose every prefix holds bands in `ratios` as closely as counts allow.

    Each position goes to the band furthest below its share so far (ties: fixed band order), and
    takes the next problem of that band's seeded shuffle: without replacement while the band
    lasts, then a fresh shuffle of the same band (a band smaller than its share repeats rather
    than bending the ratio). `size` defaults to the number of problems in the mixed bands.
    """
    ratios = _normalised(ratios)
    pools: dict[str, list[P]] = defaultdict(list)
    for p in problems:
        pools[p.band or UNBANDED].append(p)
    missing = sorted(name for name in ratios if not pools.get(name))
    if missing:
        have = ", ".join(sorted(pools)) or "none"
        raise ValueError(f"mix names bands with no problems: {', '.join(missing)} (have: {have})")
    names = sorted(ratios)
    total = sum(len(pools[n]) for n in names) if size is None else size
    if total < 0:
        raise ValueError("mix size must be >= 0")
    rngs = {n: random.Random(f"{seed}:{n}") for n in names}
    queues: dict[str, deque[P]] = {n: deque() for n in names}
    counts = dict.fromkeys(names, 0)
    steps: list[Step[P]] = []
    for i in range(total):
        band = max(names, key=lambda n: (ratios[n] * (i + 1) - counts[n], -names.index(n)))
        if not queues[band]:
            refill = sorted(pools[band], key=lambda p: p.id)
            rngs[band].shuffle(refill)
            queues[band] = deque(refill)
        steps.append(Step(queues[band].popleft(), i, "mix"))
        counts[band] += 1
    return steps


def schedule(
    problems: Iterable[P],
    name: ScheduleName = DEFAULT_SCHEDULE,
    *,
    bands: Sequence[BandRange] = (),
    mix: Mapping[str, float] | None = None,
    seed: int = 0,
) -> list[Step[P]]:
    """Dispatch to one ordering by name; `mix` ratios are required for the mixture."""
    if name == "medium_first" or name == "hard_to_easy" or name == "easy_to_hard":
        return by_band(problems, bands, direction=name)
    if name == "lineage":
        return lineage_order(problems)
    if name == "mix":
        if not mix:
            raise ValueError("the mix schedule needs band ratios, e.g. hard=0.2,medium=0.5")
        return mixture(problems, mix, seed=seed)
    raise ValueError(f"unknown schedule {name!r}; choose from {', '.join(SCHEDULES)}")
