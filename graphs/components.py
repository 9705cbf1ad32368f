"""The parts a run uses (teacher, students, critic, sandbox, bank), injected or built lazily.

Nothing is built at import, so `langgraph dev` loads the graph without keys or models; the
first node of a run builds what the caller did not inject, once per process and context.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from stepstones.agents.build import build_chat_model, build_student, build_teacher
from stepstones.agents.critic import Critic
from stepstones.agents.models import ModelSettings
from stepstones.agents.student import Student
from stepstones.agents.summarizer import LLMSummarizer
from stepstones.agents.teacher import Teacher
from stepstones.agents.usage import UsageMeter
from stepstones.graphs.context import RunContext
from stepstones.tools.dedup import NearDupIndex, problem_text
from stepstones.tools.sandbox import get_sandbox
from stepstones.tools.sandbox.base import Sandbox
from stepstones.tools.store import Bank


@dataclass
class Components:
    """Everything a node needs beyond the state and the context."""

    teacher: Teacher
    students: dict[str, Student]
    critic: Critic
    sandbox: Sandbox
    bank: Bank
    meter: UsageMeter
    summarizer: LLMSummarizer | None = None
    session: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    started: float = field(default_factory=time.monotonic)
    _dedup: dict[str, NearDupIndex] = field(default_factory=dict)
    _rounds: dict[str, dict[str, int]] = field(default_factory=dict)

    async def dedup(self, run_id: str, threshold: float) -> NearDupIndex:
        """The run's near-duplicate index, rebuilt from the bank on first use (resume-safe)."""
        index = self._dedup.get(run_id)
        if index is None:
            index = await asyncio.to_thread(self._load_dedup, run_id, threshold)
            index = self._dedup.setdefault(run_id, index)
        return index

    def _load_dedup(self, run_id: str, threshold: float) -> NearDupIndex:
        index = NearDupIndex(threshold=threshold)
        rounds = self._rounds.setdefault(run_id, {})
        for outcome in self.bank.turns(run_id):
            if outcome.valid and outcome.problem_id:
                rounds.setdefault(outcome.problem_id, outcome.round)
        for problem in self.bank.problems(run_id):
            index.add(problem.id, problem_text(problem))
        return index

    def accepted_in(self, run_id: str, problem_id: str, round_: int) -> None:
        """Note the round in which a problem entered the run's dedup index."""
        self._rounds.setdefault(run_id, {}).setdefault(problem_id, round_)

    async def recent(self, run_id: str, round_: int) -> set[str]:
        """Indexed problems not from a round before `round_` (unknown round: a replayed one).

        A killed run leaves the problems of its last, unfinished round in the bank without
        their turn records; treating them as recent keeps a resumed run equal to an
        uninterrupted one.
        """
        index = self._dedup.get(run_id)
        if index is None:
            return set()
        rounds = self._rounds.get(run_id, {})
        return {key for key in index.keys() if rounds.get(key, round_) >= round_}  # noqa: SIM118

    async def aclose(self) -> None:
        """Release the sandbox's workers."""
        await self.sandbox.aclose()


def model_settings(ctx: RunContext) -> ModelSettings:
    """The LLM settings every role shares, from the run context."""
    return ModelSettings(temperature=ctx.temperature, max_tokens=ctx.max_tokens,
                         base_url=ctx.base_url, timeout_s=ctx.timeout_s,
                         max_retries=ctx.max_retries, max_concurrency=ctx.endpoint_concurrency,
                         engine_kwargs=ctx.vllm_engine, seed=ctx.seed)


def student_settings(ctx: RunContext, student: str) -> ModelSettings:
    """The shared settings with this student's own reply length, where it has one."""
    settings = model_settings(ctx)
    if student in ctx.student_max_tokens:
        settings = settings.model_copy(update={"max_tokens": ctx.student_max_tokens[student]})
    return settings


def build_components(
    ctx: RunContext,
    *,
    teacher: Teacher | None = None,
    students: Sequence[Student] | Mapping[str, Student] | None = None,
    sandbox: Sandbox | None = None,
    bank: Bank | None = None,
    meter: UsageMeter | None = None,
    summarizer: LLMSummarizer | None = None,
) -> Components:
    """Components from the context, with any injected ones used as given."""
    meter = meter or UsageMeter(prices=ctx.prices)
    settings = model_settings(ctx)
    teacher = teacher or build_teacher(ctx.teacher, seed=ctx.seed, settings=settings, meter=meter)
    if students is None:
        built = {s: build_student(s, seed=ctx.seed, settings=student_settings(ctx, s),
                                  meter=meter) for s in ctx.students}
    elif isinstance(students, Mapping):
        built = dict(students)
    else:
        built = {s.name: s for s in students}
    sandbox = sandbox or get_sandbox(ctx.sandbox)
    critic = Critic(
        sandbox, ctx.sandbox, mutant_count=ctx.critic.mutants,
        min_kill_rate=ctx.critic.min_mutant_kill_rate,
        determinism_runs=ctx.critic.determinism_runs,
        benchmark=ctx.critic.decontaminate,
        model=build_chat_model(ctx.critic.model, settings), meter=meter,
        model_name=ctx.critic.model or "", settings=settings,
    )
    # Read the decontamination index now, with everything else built once, not in the first
    # critique: the runner freezes what exists after the build (stepstones.gc_tuning).
    critic.benchmark()
    if summarizer is None and ctx.summarizer is not None:
        model = build_chat_model(ctx.summarizer, settings)
        summarizer = (LLMSummarizer(ctx.summarizer, model, meter=meter, settings=settings)
                      if model else None)
    return Components(teacher=teacher, students=built, critic=critic, sandbox=sandbox,
                      bank=bank or Bank(ctx.bank), meter=meter, summarizer=summarizer)


class ComponentResolver:
    """Builds components once per context (Studio may run several configs in one server)."""

    def __init__(self, **injected: object) -> None:
        self.injected = {k: v for k, v in injected.items() if v is not None}
        self._cache: dict[str, Components] = {}
        self._lock = asyncio.Lock()

    async def get(self, ctx: RunContext) -> Components:
        """The components for `ctx`, built on first use."""
        key = ctx.model_dump_json()
        async with self._lock:
            if key not in self._cache:
                # Building opens files and starts sandbox workers: off the event loop.
                self._cache[key] = await asyncio.to_thread(
                    build_components, ctx, **self.injected)  # type: ignore[arg-type]
            return self._cache[key]

    def tokens(self) -> int:
        """LLM tokens (in + out) spent so far by everything this resolver built."""
        return sum(u.input_tokens + u.output_tokens
                   for comps in self._cache.values() for u in comps.meter.totals())

    async def aclose(self) -> None:
        """Close everything built so far."""
        for comps in self._cache.values():
            await comps.aclose()
        self._cache.clear()
