"""Token and cost accounting: totals per (agent, model), prices by spec or bare name, threads."""

from __future__ import annotations

import threading

import pytest

from stepstones.agents.usage import Price, UsageMeter


def test_totals_per_agent_and_model() -> None:
    meter = UsageMeter()
    meter.record("student", "sim-llm", 10, 5)
    meter.record("student", "sim-llm", 3, 2, calls=2)
    meter.record("teacher", "t", 100, 50)
    rows = {(u.agent, u.model): u for u in meter.totals()}
    assert rows[("student", "sim-llm")].calls == 3
    assert rows[("student", "sim-llm")].input_tokens == 13
    assert rows[("student", "sim-llm")].output_tokens == 7
    assert rows[("teacher", "t")].cost_usd == 0.0  # no price known: no made-up number
    assert [u.agent for u in meter.totals()] == ["student", "teacher"]


def test_cost_from_price_table_by_spec_or_bare_name() -> None:
    meter = UsageMeter(prices={"gpt-4o-mini": (0.15, 0.60), "vllm:q@http://h:8000/v1": Price(1, 2)})
    meter.record("teacher", "openai:gpt-4o-mini", 1_000_000, 500_000)
    meter.record("student", "vllm:q@http://h:8000/v1", 2_000_000, 1_000_000)
    cost = {u.agent: u.cost_usd for u in meter.totals()}
    assert cost["teacher"] == pytest.approx(0.15 + 0.30)
    assert cost["student"] == pytest.approx(2 + 2)
    assert meter.total_cost() == pytest.approx(4.45)


def test_negative_tokens_are_ignored() -> None:
    meter = UsageMeter()
    meter.record("a", "m", -5, -1)
    (u,) = meter.totals()
    assert (u.calls, u.input_tokens, u.output_tokens) == (1, 0, 0)


def test_recording_from_many_threads_loses_nothing() -> None:
    meter = UsageMeter()

    def work() -> None:
        for _ in range(2000):
            meter.record("student", "m", 1, 2)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    (u,) = meter.totals()
    assert (u.calls, u.input_tokens, u.output_tokens) == (16000, 16000, 32000)


async def test_each_run_counts_its_own_calls_through_one_meter() -> None:
    """One meter serves every run of a compiled graph; a call counts under the run whose
    node made it, in asyncio tasks and worker threads alike."""
    import asyncio

    from stepstones.agents.usage import current_run

    meter = UsageMeter()

    async def node(run: str, calls: int) -> None:
        current_run.set(run)
        for _ in range(calls):
            await asyncio.to_thread(meter.record, "student", "m", 10, 1)

    await asyncio.gather(node("a", 2), node("b", 3))
    assert [u.calls for u in meter.totals("a")] == [2]
    assert [u.calls for u in meter.totals("b")] == [3]
    assert meter.totals("c") == [] and meter.totals() == []  # outside any run
