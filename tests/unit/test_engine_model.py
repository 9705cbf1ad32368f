"""The stand-in's vLLM-like engine: slot time from tokens, a FIFO queue beyond the cap, `n` as
n sequences. Orders and counts are asserted, never how long anything took."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from stepstones.evals.engine_model import Engine, EngineModel, estimate_tokens
from stepstones.evals.openai_standin import OpenAIStandin

FAST = EngineModel(cap=2, prefill_tps=1e6, decode_tps=2000.0)
"""A reply of 40 characters (10 tokens) holds its slot for about 5 ms."""


def test_slot_time_is_prefill_plus_decode() -> None:
    model = EngineModel(cap=4, prefill_tps=1000.0, decode_tps=50.0)
    assert model.service_s(500, 100) == pytest.approx(0.5 + 2.0)
    assert model.service_s(0, 0) == 0.0
    assert estimate_tokens("") == 0
    assert estimate_tokens("abcd") == 1
    assert estimate_tokens("abcde") == 2


def running_counts(trace: list[tuple[str, int]]) -> list[int]:
    """The number of running sequences after each event of a trace."""
    counts, running = [], 0
    for kind, _ in trace:
        running += {"start": 1, "done": -1}.get(kind, 0)
        counts.append(running)
    return counts


async def test_sequences_beyond_the_cap_wait_for_a_slot_in_fifo_order() -> None:
    engine = Engine(FAST)
    engine.trace = []
    # three requests: 1, 1 and 3 sequences; 5 in all for 2 slots
    await asyncio.gather(engine.serve(0, [10]), engine.serve(0, [10]), engine.serve(0, [10] * 3))
    trace = engine.trace
    assert [k for k, _ in trace[:3]] == ["start", "start", "queue"]
    assert sum(k == "queue" for k, _ in trace) == 3
    assert max(running_counts(trace)) == 2 and running_counts(trace)[-1] == 0
    queued = [sid for k, sid in trace if k == "queue"]
    late_starts = [sid for k, sid in trace[2:] if k == "start"]
    assert late_starts == queued  # first queued, first served
    for i, (kind, _) in enumerate(trace):
        if kind == "start" and i >= 2:
            assert trace[i - 1][0] == "done"  # a waiter starts only when a slot frees
    stats = engine.stats()
    assert (stats.requests, stats.sequences, stats.done) == (3, 5, 5)
    assert stats.max_waiting == 3 and stats.completion_tokens == 50
    assert stats.service_s == pytest.approx(5 * FAST.service_s(0, 10))
    # the slots were held at least the modelled time, never more than every slot all the time
    assert stats.busy_s >= stats.service_s - 5e-3
    assert stats.busy_s <= stats.cap * stats.window_s + 1e-9
    assert stats.at_cap_s + stats.empty_s <= stats.window_s + 1e-9
    assert len(stats.time_at) == 3 and sum(stats.time_at) == pytest.approx(stats.window_s)
    assert (stats.time_at[0], stats.time_at[2]) == (stats.empty_s, stats.at_cap_s)
    assert stats.wait_s > 0


@pytest.fixture
def server() -> Iterator[OpenAIStandin]:
    with OpenAIStandin(engine=FAST, reply="a reply of forty characters, choice {i}!") as s:
        assert s.engine is not None
        s.engine.trace = []
        yield s


async def test_a_request_with_n_is_n_sequences_and_reports_estimated_tokens(
    server: OpenAIStandin,
) -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "x" * 400}], "n": 3}
    async with httpx.AsyncClient() as client:
        got = (await client.post(f"{server.base_url}/chat/completions", json=body)).json()
        stats = (await client.get(f"http://{server.host}:{server.port}/stats")).json()
    texts = [c["message"]["content"] for c in got["choices"]]
    assert texts == [f"a reply of forty characters, choice {i}!" for i in range(3)]
    assert got["usage"] == {"prompt_tokens": 100, "completion_tokens": 30, "total_tokens": 130}
    assert server.engine is not None and server.engine.trace is not None
    assert [k for k, _ in server.engine.trace[:3]] == ["start", "start", "queue"]
    engine = stats["engine"]
    assert (engine["requests"], engine["sequences"], engine["done"]) == (1, 3, 3)
    assert engine["max_waiting"] == 1


async def test_concurrent_requests_never_run_more_than_the_cap(server: OpenAIStandin) -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    async with httpx.AsyncClient() as client:
        replies = await asyncio.gather(
            *(client.post(f"{server.base_url}/chat/completions", json=body) for _ in range(6))
        )
    assert all(r.status_code == 200 for r in replies)
    assert server.engine is not None and server.engine.trace is not None
    trace = server.engine.trace
    # how many overlap depends on the machine; that no more than the cap ran does not
    assert max(running_counts(trace)) <= 2
    assert sum(k == "done" for k, _ in trace) == sum(k == "start" for k, _ in trace) == 6
    server.reset()
    assert server.engine.stats().requests == 0
