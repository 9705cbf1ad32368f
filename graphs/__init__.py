"""Floor 2: the LangGraph wiring of the stepping-stone curriculum.

The names below are loaded on first use (PEP 562): importing `stepstones.graphs.context` imports
this package first, and the CLI validates a config with it before LangGraph (about a second of
start-up) is needed at all.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stepstones.graphs.context import RunContext, load_context
    from stepstones.graphs.curriculum import build_graph, graph_builder

__all__ = ["RunContext", "build_graph", "graph_builder", "load_context"]

_HOMES = {
    "RunContext": "context",
    "load_context": "context",
    "build_graph": "curriculum",
    "graph_builder": "curriculum",
}


def __getattr__(name: str) -> Any:
    """Import the module that defines `name` when it is first asked for."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)
