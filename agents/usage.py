"""Token and cost accounting per agent role and model.

Every model call records its tokens here (students through sampling, teacher and critic through
parsing), and each run's report stores its own `totals(run_id)`. One meter serves every run of a
compiled graph (LangGraph's server runs many threads through one), so a call is counted under
the run whose node made it: `current_run`, a context variable the graph's nodes set, which
asyncio tasks and worker threads inherit. A lock guards the counters.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from contextvars import ContextVar
from typing import NamedTuple

from stepstones.agents.models import bare_model_name
from stepstones.tools.schema import ModelCall, Usage

current_run: ContextVar[str] = ContextVar("stepstones_run", default="")
"""The run a model call belongs to; "" outside any run (a script calling an agent directly)."""


class Price(NamedTuple):
    """USD per million tokens, input and output."""

    input_per_m: float
    output_per_m: float


class UsageMeter:
    """Counts calls and tokens per (agent, model); prices, when known, give the cost.

    `prices` maps a model name to a `Price` (or an (input, output) pair of USD per 1M tokens).
    A spec such as `openai:gpt-4o-mini` is priced under its bare name too. Models without a
    price (local servers, the embedded model) cost 0.0: no number is better than a made-up one.
    """

    def __init__(self, prices: Mapping[str, Price | tuple[float, float]] | None = None) -> None:
        self.prices = {name: Price(*p) for name, p in (prices or {}).items()}
        self._lock = threading.Lock()
        self._counts: dict[str, dict[tuple[str, str], list[int]]] = {}
        self._calls: dict[str, list[ModelCall]] = {}

    def record(
        self, agent: str, model: str, input_tokens: int, output_tokens: int, calls: int = 1
    ) -> None:
        """Add one call's (or `calls` calls') tokens to the current run's agent and model."""
        with self._lock:
            run = self._counts.setdefault(current_run.get(), {})
            row = run.setdefault((agent, model), [0, 0, 0])
            row[0] += calls
            row[1] += max(0, int(input_tokens))
            row[2] += max(0, int(output_tokens))

    def price(self, model: str) -> Price | None:
        """The price of `model` by its spec or bare name, or None when unknown."""
        return self.prices.get(model) or self.prices.get(bare_model_name(model))

    def totals(self, run_id: str | None = None) -> list[Usage]:
        """One Usage per (agent, model) the run (default: the current one) called, sorted, with
        the cost where the price is known."""
        with self._lock:
            run = self._counts.get(current_run.get() if run_id is None else run_id, {})
            rows = sorted((k, list(v)) for k, v in run.items())
        out = []
        for (agent, model), (calls, tokens_in, tokens_out) in rows:
            price = self.price(model)
            cost = 0.0
            if price is not None:
                cost = (tokens_in * price.input_per_m + tokens_out * price.output_per_m) / 1e6
            out.append(
                Usage(
                    agent=agent,
                    model=model,
                    calls=calls,
                    input_tokens=tokens_in,
                    output_tokens=tokens_out,
                    cost_usd=round(cost, 6),
                )
            )
        return out

    def log_call(self, call: ModelCall) -> None:
        """Keep one call's messages and replies for the current run until the run's next
        `drain_calls` (the graph's nodes write them to the bank every round)."""
        with self._lock:
            self._calls.setdefault(current_run.get(), []).append(call)

    def drain_calls(self, run_id: str) -> list[ModelCall]:
        """The run's calls logged since the last drain, oldest first; the meter forgets them."""
        with self._lock:
            return self._calls.pop(run_id, [])

    def total_cost(self, run_id: str | None = None) -> float:
        """The run's total cost in USD over every agent (0.0 where prices are unknown)."""
        return round(sum(float(u.cost_usd) for u in self.totals(run_id)), 6)
