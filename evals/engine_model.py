"""A vLLM-like engine model for the OpenAI stand-in: sequence slots, a FIFO queue, token time.

The end-to-end benchmark asks how busy the pipeline keeps a model server, so the stand-in must
queue and take time the way a vLLM server does, not sleep a fixed latency per request:

- a request with `n` is n sequences, each scheduled on its own (vLLM's V1 engine fans `n` out
  into n child requests, and `max_num_seqs` counts each), and the reply waits for the last one;
- at most `cap` sequences run; the others wait in one FIFO queue (vLLM's default FCFS policy)
  and take the first slot that frees;
- a running sequence takes prompt tokens / prefill rate + its output tokens / decode rate. Each
  sequence pays its own prefill (prefix caching is not modelled) and decodes at the same rate
  however many run: the small-batch regime, where decoding is bound by memory bandwidth and a
  batch costs about what one sequence costs. So the cap, not the batch size, limits throughput.

Tokens are estimated at 4 characters each: the stand-in has no tokenizer, and the benchmark
needs counts that grow with text, not a model's exact ones.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from dataclasses import dataclass

from pydantic import BaseModel, Field

CHARS_PER_TOKEN = 4


def estimate_tokens(text: str) -> int:
    """Tokens in `text`, estimated at 4 characters each (at least 1 for non-empty text)."""
    return math.ceil(len(text) / CHARS_PER_TOKEN)


class EngineModel(BaseModel):
    """The engine's capacity and speed (the benchmark's latency model)."""

    cap: int = Field(16, ge=1, description="sequences running at once (vLLM's max_num_seqs)")
    prefill_tps: float = Field(5000.0, gt=0, description="prompt tokens per second")
    decode_tps: float = Field(60.0, gt=0, description="output tokens per second per sequence")

    def service_s(self, prompt_tokens: int, output_tokens: int) -> float:
        """Seconds one running sequence occupies its slot."""
        return prompt_tokens / self.prefill_tps + output_tokens / self.decode_tps


class EngineStats(BaseModel):
    """What the engine did since its last reset, over its window: from the first arrival to
    the last event (a sequence queued, started or done)."""

    cap: int
    requests: int = 0
    sequences: int = 0
    done: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    window_s: float = 0.0
    busy_s: float = Field(0.0, description="integral of running sequences over the window")
    at_cap_s: float = Field(0.0, description="time with every slot taken")
    empty_s: float = Field(0.0, description="time with no sequence running")
    service_s: float = Field(0.0, description="slot time of the sequences that are done")
    wait_s: float = Field(0.0, description="queue time of the sequences that started")
    max_waiting: int = 0
    time_at: list[float] = Field(
        default_factory=list, description="time_at[k]: time with k sequences running (0..cap)"
    )
    busy_by_s: list[float] = Field(
        default_factory=list,
        description="busy_by_s[t]: integral of running sequences over second t of the window",
    )

    def busy_by_tenth(self) -> list[float]:
        """Busy fraction in each tenth of the window: where in a run the endpoint idles."""
        if self.window_s <= 0:
            return []
        out = []
        for k in range(10):
            lo, hi = self.window_s * k / 10, self.window_s * (k + 1) / 10
            busy = 0.0
            for t, v in enumerate(self.busy_by_s):
                # A second's busy time is spread evenly over it (the window's last second is
                # cut short), so the tenths are exact to within a second and add up to busy_s.
                end = min(t + 1.0, self.window_s)
                if end > t:
                    busy += v * max(0.0, min(hi, end) - max(lo, t)) / (end - t)
            out.append(busy / (self.cap * (hi - lo)))
        return out

    def busy_by_second(self) -> list[float]:
        """Busy fraction in each second of the window (the last one as long as is left of it):
        finer than the tenths, for a run's start and end."""
        out = []
        for t, v in enumerate(self.busy_by_s):
            length = min(1.0, self.window_s - t)
            if length > 0:
                out.append(v / (self.cap * length))
        return out

    @property
    def busy_fraction(self) -> float:
        """Time-weighted mean of running sequences / cap over the window (0 without one)."""
        return self.busy_s / (self.cap * self.window_s) if self.window_s > 0 else 0.0

    @property
    def at_cap_fraction(self) -> float:
        """Share of the window with every slot taken."""
        return self.at_cap_s / self.window_s if self.window_s > 0 else 0.0

    @property
    def empty_fraction(self) -> float:
        """Share of the window with no sequence running."""
        return self.empty_s / self.window_s if self.window_s > 0 else 0.0

    @property
    def mean_service_s(self) -> float:
        """Mean slot time of a finished sequence (its latency without the queue)."""
        return self.service_s / self.done if self.done else 0.0


@dataclass
class _Ticket:
    sid: int
    slot: asyncio.Future[float]
    """Resolves to the loop time at which the sequence got its slot."""
    queued_at: float


class Engine:
    """The scheduler: `serve` returns when every sequence of a request has run.

    One instance lives on one event loop (the stand-in's). `trace`, when a list, receives
    ("queue" | "start" | "done", sequence id) in the order things happen, for tests.
    """

    def __init__(self, model: EngineModel) -> None:
        self.model = model
        self.trace: list[tuple[str, int]] | None = None
        self._running = 0
        self._waiting: deque[_Ticket] = deque()
        self._next_sid = 0
        self.reset_stats()

    def reset_stats(self) -> None:
        """Start a new window (sequences already running stay running and are counted on)."""
        self._stats = EngineStats(cap=self.model.cap, time_at=[0.0] * (self.model.cap + 1))
        self._last: float | None = None

    def stats(self) -> EngineStats:
        """A copy of the window's figures so far."""
        return self._stats.model_copy()

    def _mark(self, now: float) -> None:
        """Account for the time since the last event at the running count it had."""
        s = self._stats
        if self._last is not None:
            dt = max(0.0, now - self._last)
            t = s.window_s
            end = t + dt
            while t < end:  # the running count's time, split by second of the window
                second = int(t)
                step = min(end, second + 1) - t
                s.busy_by_s.extend([0.0] * (second + 1 - len(s.busy_by_s)))
                s.busy_by_s[second] += self._running * step
                t += step
            s.window_s += dt
            s.busy_s += self._running * dt
            s.time_at[min(self._running, self.model.cap)] += dt
            if self._running >= self.model.cap:
                s.at_cap_s += dt
            if self._running == 0:
                s.empty_s += dt
        self._last = now
        s.max_waiting = max(s.max_waiting, len(self._waiting))

    def _note(self, kind: str, sid: int) -> None:
        if self.trace is not None:
            self.trace.append((kind, sid))

    def _enqueue(self, now: float) -> _Ticket:
        """A ticket for one sequence: a slot at once if one is free and nobody waits."""
        self._next_sid += 1
        ticket = _Ticket(self._next_sid, asyncio.get_running_loop().create_future(), now)
        self._mark(now)
        if self._running < self.model.cap and not self._waiting:
            self._running += 1
            ticket.slot.set_result(now)
            self._note("start", ticket.sid)
        else:
            self._waiting.append(ticket)
            self._note("queue", ticket.sid)
            self._stats.max_waiting = max(self._stats.max_waiting, len(self._waiting))
        return ticket

    def _release(self, sid: int, now: float) -> None:
        """A sequence is done: its slot goes to the first live waiter, else it frees."""
        self._mark(now)
        self._note("done", sid)
        while self._waiting:
            nxt = self._waiting.popleft()
            if not nxt.slot.done():  # a cancelled waiter gives its turn up
                nxt.slot.set_result(now)
                self._stats.wait_s += now - nxt.queued_at
                self._note("start", nxt.sid)
                return
        self._running -= 1

    async def _sequence(self, ticket: _Ticket, seconds: float) -> None:
        loop = asyncio.get_running_loop()
        try:
            started = await ticket.slot
        except asyncio.CancelledError:
            if ticket.slot.done() and not ticket.slot.cancelled():
                self._release(ticket.sid, loop.time())  # handed a slot as it was cancelled
            raise
        try:
            # From when the slot was taken, not from when this coroutine woke up.
            await asyncio.sleep(max(0.0, started + seconds - loop.time()))
        finally:
            self._release(ticket.sid, loop.time())
        self._stats.done += 1
        self._stats.service_s += seconds

    async def serve(self, prompt_tokens: int, output_tokens: list[int]) -> None:
        """Run one request's sequences (one per output); return when all are done."""
        now = asyncio.get_running_loop().time()
        s = self._stats
        s.requests += 1
        s.sequences += len(output_tokens)
        s.prompt_tokens += prompt_tokens
        s.completion_tokens += sum(output_tokens)
        # Tickets are taken here, in order, before anything awaits: FIFO holds per sequence.
        tickets = [self._enqueue(now) for _ in output_tokens]
        await asyncio.gather(
            *(
                self._sequence(t, self.model.service_s(prompt_tokens, out))
                for t, out in zip(tickets, output_tokens, strict=True)
            )
        )
