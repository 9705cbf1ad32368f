"""Token and cost accounting per agent role and model.

One meter per run: every model call records its tokens here (students through sampling, teacher
and critic through parsing), and the run's report stores `totals()`. Recording happens from the
event loop and from worker threads (in-process engines), so a lock guards the counters.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import NamedTuple

from stepstones.tools.schema import Usage


class Price(NamedTuple):
    """USD per million tokens, input and output."""

    input_per_m: float
    output_per_m: float


def _bare(model: str) -> str:
    """`openai:gpt-4o-mini` -> `gpt-4o-mini`; `vllm:M@http://h/v1` -> `M`."""
    _, sep, rest = model.partition(":")
    name = rest if sep and "/" not in model.split(":", 1)[0] else model
    at = name.rfind("@http")
    return name[:at] if at >= 0 else name


class UsageMeter:
    """Counts calls and tokens per (agent, model); prices, when known, give the cost.

    `prices` maps a model name to a `Price` (or an (input, output) pair of USD per 1M tokens).
    A spec such as `openai:gpt-4o-mini` is priced under its bare name too. Models without a
    price (local servers, the embedded model) cost 0.0: no number is better than a made-up one.
    """

    def __init__(self, prices: Mapping[str, Price | tuple[float, float]] | None = None) -> None:
        self.prices = {name: Price(*p) for name, p in (prices or {}).items()}
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, str], list[int]] = {}

    def record(
        self, agent: str, model: str, input_tokens: int, output_tokens: int, calls: int = 1
    ) -> None:
        """Add one call's (or `calls` calls') tokens to the agent's and model's totals."""
        with self._lock:
            row = self._counts.setdefault((agent, model), [0, 0, 0])
            row[0] += calls
            row[1] += max(0, int(input_tokens))
            row[2] += max(0, int(output_tokens))

    def price(self, model: str) -> Price | None:
        """The price of `model` by its spec or bare name, or None when unknown."""
        return self.prices.get(model) or self.prices.get(_bare(model))

    def totals(self) -> list[Usage]:
        """One Usage per (agent, model) seen, sorted, with the cost where the price is known."""
        with self._lock:
            rows = sorted((k, list(v)) for k, v in self._counts.items())
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

    def total_cost(self) -> float:
        """The run's total cost in USD over every agent (0.0 where prices are unknown)."""
        return round(sum(float(u.cost_usd) for u in self.totals()), 6)
