"""The stepping stones of a lineage drawn as a small text tree, for the report page.

Each valid stone hangs under its parent (the problem it was varied from, as the bank records
it); a turn that left no valid problem hangs, as a leaf, under the stone the teacher was
varying when it ended (the lineage's last valid stone before it), so a reader sees where each
chain grew and where it stopped, and why.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from stepstones.graphs.report import turn_ending
from stepstones.tools.schema import Problem, TurnOutcome

LABEL_CHARS = 70
"""Characters of a statement shown on a tree's line."""


@dataclass
class Node:
    """One turn of a lineage, with the turns that grew from it."""

    turn: TurnOutcome
    problem: Problem | None
    children: list[Node] = field(default_factory=list)


def label(node: Node) -> str:
    """One line: turn, direction, where it landed and what the problem was."""
    t, p = node.turn, node.problem
    head = f"turn {t.turn} · {t.direction}"
    if not t.valid:
        why = "; ".join(r.message for r in t.rejections)[:LABEL_CHARS]
        return f"{head} · {turn_ending(t)}" + (f": {why}" if why else "")
    rate = f" {t.pass_rate:.2f}" if t.pass_rate is not None else ""
    parts = [head, f"{t.band}{rate}"]
    if p is not None:
        if p.family:
            parts.append(f"{p.family}/{p.level}")
        flat = " ".join(p.statement.split())
        parts.append(flat if len(flat) <= LABEL_CHARS else flat[: LABEL_CHARS - 1] + "…")
    return " · ".join(parts)


def lineage_tree(turns: Sequence[TurnOutcome], problems: Mapping[str, Problem]) -> list[Node]:
    """The roots of one lineage's tree (usually one: its seed problem)."""
    roots: list[Node] = []
    stones: dict[str, Node] = {}
    last: Node | None = None
    for t in sorted(turns, key=lambda x: x.turn):
        problem = problems.get(t.problem_id or "") if t.valid else None
        node = Node(t, problem)
        if t.valid and problem is not None:
            parent = stones.get(problem.lineage.parent_id or "")
            stones[problem.id] = node
            last = node
        else:
            parent = last
        (parent.children if parent is not None else roots).append(node)
    return roots


def render(roots: Sequence[Node]) -> str:
    """The tree as indented lines with box-drawing branches."""
    lines: list[str] = []

    def walk(node: Node, prefix: str, tail: bool, top: bool) -> None:
        branch = "" if top else ("└── " if tail else "├── ")
        lines.append(prefix + branch + label(node))
        inner = prefix + ("" if top else ("    " if tail else "│   "))
        for i, child in enumerate(node.children):
            walk(child, inner, i == len(node.children) - 1, False)

    for root in roots:
        walk(root, "", True, True)
    return "\n".join(lines)


def lineage_trees(
    turns: Sequence[TurnOutcome], problems: Mapping[str, Problem], limit: int = 8
) -> list[tuple[str, int, str]]:
    """(lineage id, valid stones, tree text) for the `limit` lineages with the most stones."""
    by_lineage: dict[str, list[TurnOutcome]] = defaultdict(list)
    for t in turns:
        by_lineage[t.lineage_id].append(t)
    ranked = sorted(by_lineage.items(), key=lambda kv: (-sum(t.valid for t in kv[1]), kv[0]))
    return [
        (lid, sum(t.valid for t in ts), render(lineage_tree(ts, problems)))
        for lid, ts in ranked[:limit]
    ]
