"""A snapshot of the graph's shape: nodes and edges change only on purpose."""

from __future__ import annotations

from pathlib import Path

from stepstones.graphs.curriculum import graph

SNAPSHOT = Path(__file__).resolve().parents[2] / "docs" / "graph.mmd"


def test_mermaid_drawing_matches_the_committed_snapshot() -> None:
    drawn = graph.get_graph(xray=1).draw_mermaid()
    assert drawn == SNAPSHOT.read_text(), (
        "the graph changed: regenerate with `python scripts/draw_graph.py > docs/graph.mmd`"
    )


def test_every_routing_target_is_a_node() -> None:
    g = graph.get_graph(xray=1)
    names = set(g.nodes)
    for node in (
        "generate_problem",
        "critique_problem",
        "review_problem",
        "solve_problem",
        "summarize_performance",
        "assign_band",
        "discard_problem",
    ):
        assert f"run_turn:{node}" in names
    assert {e.target for e in g.edges} <= names
