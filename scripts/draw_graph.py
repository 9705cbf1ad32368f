"""Print the curriculum graph as Mermaid (subgraphs expanded): `python scripts/draw_graph.py`.

docs/graph.mmd is this output; tests/unit/test_graph_drawing.py fails when they drift apart.
"""

from __future__ import annotations

from stepstones.graphs.curriculum import graph


def mermaid() -> str:
    """The Mermaid drawing LangGraph makes of the compiled graph."""
    return graph.get_graph(xray=1).draw_mermaid()


if __name__ == "__main__":
    print(mermaid(), end="")
