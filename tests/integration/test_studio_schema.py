"""What Studio shows, checked in-process: the input form and every turn node's streamed update.

The served test (test_studio.py) needs `langgraph dev`; these hold the same promises without a
server, so a change that empties a node's update or nulls the input schema fails fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stepstones.graphs.curriculum import graph
from stepstones.graphs.state import LineageState
from tests.conftest import needs_bwrap
from tests.fakes import SIMULATED, STUDIO_UPDATES


def test_input_schema_asks_for_run_id_and_seeds() -> None:
    schema = graph.get_input_jsonschema()
    assert {"run_id", "seeds"} <= set(schema["properties"])
    assert graph.get_output_jsonschema()["properties"]


@needs_bwrap
async def test_every_turn_node_streams_a_typed_update(tmp_path: Path) -> None:
    ctx = {
        "bank": str(tmp_path / "bank.sqlite"),
        "samples": 2,
        "concurrency": 2,
        "students": SIMULATED.split(","),
        "seeds": {"source": "puzzles"},
        "bands": [{"name": "all", "lo": 0.0, "hi": 1.0, "quota": 2}],
    }
    updates: dict[str, list[Any]] = {}
    async for _, chunk in graph.astream(
        {"run_id": "studio-updates"}, context=ctx, stream_mode="updates", subgraphs=True
    ):
        for node, update in chunk.items():
            updates.setdefault(node, []).append(update)
    for node, (key, kind) in STUDIO_UPDATES.items():
        assert updates.get(node), f"{node} never ran"
        for update in updates[node]:
            assert isinstance(update, dict) and update, f"{node} streamed {update!r}"
        values = [u[key] for u in updates[node] if u.get(key) is not None]
        assert values, f"{node} never streamed its {key}"
        flat = [v for value in values for v in (value if isinstance(value, list) else [value])]
        assert all(isinstance(v, kind) for v in flat), f"{node}.{key}: {flat!r}"
    lineages = [lin for u in updates["assign_band"] for lin in u["lineages"].values()]
    assert lineages and all(isinstance(lin, LineageState) for lin in lineages)
