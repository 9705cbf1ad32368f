"""`langgraph dev` serves the curriculum graph from langgraph.json, as Studio uses it.

Driven through `langgraph_sdk`: the schemas behind Studio's input and context forms; a short run
streamed to the end; the bands filling over a thread's checkpoints; the human-review interrupt,
answered over the API.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from stepstones.evals.openai_standin import free_port
from stepstones.graphs.bands import band_counts
from stepstones.graphs.state import RunInput
from stepstones.tools.schema import Problem, TurnOutcome
from stepstones.tools.store import Bank
from tests.conftest import needs_bwrap
from tests.fakes import SIMULATED, STUDIO_UPDATES

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.studio, pytest.mark.slow, needs_bwrap]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    pytest.importorskip("langgraph_api", reason="needs langgraph-cli[inmem] (extra `studio`)")
    port = free_port()
    log = tmp_path_factory.mktemp("studio") / "server.log"
    cli = Path(sys.executable).with_name("langgraph")
    with log.open("w") as fh:
        proc = subprocess.Popen(
            [
                str(cli),
                "dev",
                "--no-browser",
                "--no-reload",
                "--port",
                str(port),
                "--host",
                "127.0.0.1",
            ],
            cwd=ROOT,
            stdout=fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(f"{url}/ok", timeout=2) as resp,
            ):
                if resp.status == 200:
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"langgraph dev did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def context(tmp_path: Path, **kw: Any) -> dict[str, Any]:
    return {
        "bank": str(tmp_path / "bank.sqlite"),
        "samples": 2,
        "concurrency": 2,
        "students": SIMULATED.split(","),
        "seeds": {"source": "puzzles"},
        "bands": [{"name": "all", "lo": 0.0, "hi": 1.0, "quota": 2}],
        **kw,
    }


EDITABLE_CONTEXT = {"teacher", "students", "bands", "budget", "human_review"}
"""The context fields the README says Studio lets a user edit."""


async def test_served_schemas_ask_for_the_input_and_context_the_readme_names(server: str) -> None:
    from langgraph_sdk import get_client

    client = get_client(url=server)
    (assistant,) = await client.assistants.search(graph_id="curriculum")
    schemas = await client.assistants.get_schemas(assistant["assistant_id"])
    # Studio's input form is drawn from this schema: null would leave it a raw JSON box.
    inputs = schemas["input_schema"]
    assert inputs is not None, "the served input schema is null"
    assert set(inputs["properties"]) == set(RunInput.__annotations__) == {"run_id", "seeds"}
    assert not inputs.get("required"), "run id and seeds are both optional"
    context = schemas["context_schema"]
    assert context is not None, "the served context schema is null"
    fields = context["properties"]
    assert set(fields) >= EDITABLE_CONTEXT
    # Each has a type (or a reference to one) for the form to draw; none is required, so an
    # empty form runs on the defaults.
    for name in EDITABLE_CONTEXT:
        assert {"type", "$ref"} & set(fields[name]), (name, fields[name])
    assert not EDITABLE_CONTEXT & set(context.get("required") or [])


async def test_a_threads_history_shows_the_bands_filling(server: str, tmp_path: Path) -> None:
    from langgraph_sdk import get_client

    client = get_client(url=server)
    thread = await client.threads.create()
    bands = [
        {"name": "hard", "lo": 0.0, "hi": 0.5, "quota": 3},
        {"name": "easy", "lo": 0.5, "hi": 1.0, "quota": 3},
    ]
    ctx = context(tmp_path, bands=bands)
    final = await client.runs.wait(
        thread["thread_id"], "curriculum", input={"run_id": "filling"}, context=ctx
    )
    assert isinstance(final, dict) and final["stop_reason"] == "quotas_filled", final
    limit = 1000
    history = await client.threads.get_history(thread["thread_id"], limit=limit)
    assert 3 < len(history) < limit
    # Oldest first, by the step LangGraph numbers each checkpoint with.
    history = sorted(history, key=lambda s: s["metadata"]["step"])
    names = [b["name"] for b in bands]

    def counts(values: dict[str, Any]) -> dict[str, int]:
        outcomes = [TurnOutcome.model_validate(o) for o in values.get("outcomes") or []]
        found = band_counts(outcomes)
        return {n: found[n] for n in names}

    series = [counts(s["values"]) for s in history]
    for before, after in pairwise(series):
        assert all(after[n] >= before[n] for n in names), series
    assert series[0] == {n: 0 for n in names}
    # Filled over more than one checkpoint: the history shows the bands filling, not just full.
    assert len({tuple(c.values()) for c in series}) > 2, series
    report = final["report"]["bands"]
    assert series[-1] == {n: report[n]["count"] + report[n]["surplus"] for n in names}
    assert all(report[n]["filled"] for n in names)
    bank = Bank(Path(ctx["bank"]))
    try:
        banked = band_counts(bank.turns("filling"))
    finally:
        bank.close()
    assert series[-1] == {n: banked[n] for n in names}


async def test_stream_a_short_run_through_the_sdk(server: str, tmp_path: Path) -> None:
    from langgraph_sdk import get_client

    client = get_client(url=server)
    (assistant,) = await client.assistants.search(graph_id="curriculum")
    thread = await client.threads.create()
    updates: dict[str, list[Any]] = {}
    async for chunk in client.runs.stream(
        thread["thread_id"],
        assistant["assistant_id"],
        input={"run_id": "studio-run"},
        context=context(tmp_path),
        stream_mode="updates",
        stream_subgraphs=True,
    ):
        assert chunk.event != "error", chunk.data
        if chunk.event.startswith("updates") and isinstance(chunk.data, dict):
            for node, update in chunk.data.items():
                updates.setdefault(node, []).append(update)
    assert {"start_run", "schedule_turns", "finish_run"} <= set(updates)
    # Every turn node's update, as Studio receives it (JSON), is non-empty and reads back as
    # the record it carries: the problem, the critique, the attempts, the summary, the band.
    for node, (key, kind) in STUDIO_UPDATES.items():
        assert updates.get(node), f"{node} never streamed"
        for update in updates[node]:
            assert isinstance(update, dict) and update, f"{node} streamed {update!r}"
        values = [u[key] for u in updates[node] if u.get(key) is not None]
        assert values, f"{node} never streamed its {key}"
        flat = [v for value in values for v in (value if isinstance(value, list) else [value])]
        records = [kind.model_validate(v) for v in flat]
        assert records and all(isinstance(r, kind) for r in records)
    assert all(
        Problem.model_validate(u["problem"]).statement
        for u in updates["generate_problem"]
        if u.get("problem")
    )
    bands = [o["band"] for u in updates["assign_band"] for o in u["outcomes"]]
    assert "all" in bands
    state = await client.threads.get_state(thread["thread_id"])
    values = state["values"]
    assert values["stop_reason"] == "quotas_filled"
    assert values["report"]["bands"]["all"]["filled"]
    assert any(o["valid"] for o in values["outcomes"])


async def test_a_flowing_run_streams_its_slots_and_their_turns(server: str, tmp_path: Path) -> None:
    """Under `schedule = "flow"` the run graph's one long step holds the slots: Studio sees each
    slot's steps (next_lineage, steer_lineage, run_turn) and, inside, every turn node."""
    from langgraph_sdk import get_client

    client = get_client(url=server)
    thread = await client.threads.create()
    ctx = context(
        tmp_path,
        schedule="flow",
        bands=[{"name": "all", "lo": 0.0, "hi": 1.0, "quota": 4}],
    )
    updates: dict[str, int] = {}
    async for chunk in client.runs.stream(
        thread["thread_id"],
        "curriculum",
        input={"run_id": "flowing"},
        context=ctx,
        stream_mode="updates",
        stream_subgraphs=True,
    ):
        assert chunk.event != "error", chunk.data
        if chunk.event.startswith("updates") and isinstance(chunk.data, dict):
            for node in chunk.data:
                updates[node] = updates.get(node, 0) + 1
    slot_nodes = {"next_lineage", "steer_lineage", "run_turn"}
    assert {"start_run", "schedule_turns", "run_slot", "finish_run"} | slot_nodes <= set(updates)
    assert set(STUDIO_UPDATES) <= set(updates), updates
    values = (await client.threads.get_state(thread["thread_id"]))["values"]
    assert values["stop_reason"] == "quotas_filled"
    bank = Bank(Path(ctx["bank"]))
    try:
        banked = bank.turns("flowing")
    finally:
        bank.close()
    # The slots hand every turn back to the run's state: it and the bank hold the same turns.
    held = sorted((o["lineage_id"], o["turn"]) for o in values["outcomes"])
    assert held == sorted((o.lineage_id, o.turn) for o in banked) and held


async def test_human_review_interrupt_then_approve(server: str, tmp_path: Path) -> None:
    from langgraph_sdk import get_client

    client = get_client(url=server)
    thread = await client.threads.create()
    ctx = context(
        tmp_path,
        human_review=True,
        concurrency=1,
        bands=[{"name": "all", "lo": 0.0, "hi": 1.0, "quota": 1}],
    )
    await client.runs.wait(
        thread["thread_id"], "curriculum", input={"run_id": "review"}, context=ctx
    )
    state = await client.threads.get_state(thread["thread_id"], subgraphs=True)
    interrupts = [i for task in state["tasks"] for i in task.get("interrupts", [])]
    assert len(interrupts) == 1
    question = interrupts[0]["value"]
    assert question["kind"] == "review_problem" and question["problem"]["statement"]
    # Nothing was solved yet: students only see approved problems.
    assert not state["values"].get("outcomes")

    for _ in range(10):  # approve until the band is full (a too-easy draft asks again)
        await client.runs.wait(
            thread["thread_id"],
            "curriculum",
            context=ctx,
            command={"resume": {i["id"]: {"action": "approve"} for i in interrupts}},
        )
        state = await client.threads.get_state(thread["thread_id"], subgraphs=True)
        interrupts = [i for task in state["tasks"] for i in task.get("interrupts", [])]
        if not interrupts:
            break
    assert state["values"]["stop_reason"] == "quotas_filled"
    assert state["values"]["outcomes"][0]["valid"]
