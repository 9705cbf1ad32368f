"""Floor 2: the LangGraph wiring of the stepping-stone curriculum."""

from stepstones.graphs.context import RunContext, load_context
from stepstones.graphs.curriculum import build_graph, graph_builder

__all__ = ["RunContext", "build_graph", "graph_builder", "load_context"]
