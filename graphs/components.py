"""The parts a run uses (teacher, students, critic, sandbox, bank), injected or built lazily,
and what belongs to one run alone (its clock, session and dedup index: `RunScope`).

Nothing is built at import, so `langgraph dev` loads the graph without keys or models; the
first node of a run builds what the caller did not inject, once per process and context. The
parts are stateless between runs and shared by every run with that context (LangGraph's server
runs many threads through one compiled graph); anything a run accumulates lives in its scope,
keyed by run id, and leaves with `end_run`.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from langchain_core.language_models import BaseChatModel

from stepstones.agents.build import build_chat_model, build_student, build_teacher
from stepstones.agents.critic import Critic
from stepstones.agents.models import ModelSettings
from stepstones.agents.preflight import ModelCheck
from stepstones.agents.student import Student
from stepstones.agents.summarizer import LLMSummarizer
from stepstones.agents.teacher import Teacher
from stepstones.agents.usage import UsageMeter, current_run
from stepstones.graphs.context import RunContext, get_context
from stepstones.tools.dedup import NearDupIndex, problem_text
from stepstones.tools.sandbox import get_sandbox
from stepstones.tools.sandbox.base import Sandbox
from stepstones.tools.store import Bank

if TYPE_CHECKING:
    from stepstones.graphs.flow import FlowLedger


@dataclass
class RunScope:
    """What one run accumulates in this process: made on its first node here, so a resumed
    run starts a new clock and session, and a second run never inherits the first's."""

    session: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    started: float = field(default_factory=time.monotonic)
    dedup: NearDupIndex | None = None
    rounds: dict[str, int] = field(default_factory=dict)
    """The round in which each indexed problem entered the run's dedup index."""
    by_round: dict[int, set[str]] = field(default_factory=dict)
    """The same, inverted: `recent` reads the rounds it asks about, not every key."""
    unknown: set[str] = field(default_factory=set)
    """Indexed problems of no known round (a killed run's last, unfinished round)."""
    newest: int = -1
    """The latest round in `by_round`."""
    ledger: FlowLedger | None = None
    """A flowing run's FlowLedger (graphs/flow.py), rebuilt from the bank on first use."""
    banking: set[str] = field(default_factory=set)
    """Lineages whose turn has begun writing its turn record (`begin_record`)."""
    stopping: set[str] = field(default_factory=set)
    """Lineages whose turn is being cancelled (`stop_turn`): it writes no turn record."""

    def begin_record(self, lineage_id: str) -> None:
        """Called on the event loop right before a turn writes its turn record (in a thread).

        A thread cannot be stopped: a turn cancelled during that write would still bank its
        record, while its outcome never reached the slot's checkpoint, and the end-of-run
        check would find a turn the checkpoints do not have (BankMismatch). So a turn that
        has begun its record is not cancelled (`stop_turn` says no), and one being cancelled
        does not begin it. Both run on the loop without an await between look and mark, so
        one of them always sees the other.
        """
        if lineage_id in self.stopping:
            raise asyncio.CancelledError(f"lineage {lineage_id}'s turn is being cancelled")
        self.banking.add(lineage_id)

    def stop_turn(self, lineage_id: str) -> bool:
        """Whether the lineage's turn in flight may be cancelled now (`begin_record`)."""
        if lineage_id in self.banking:
            return False
        self.stopping.add(lineage_id)
        return True

    def turn_ended(self, lineage_id: str) -> None:
        """The lineage's turn is over: its next one may be recorded, or cancelled, afresh."""
        self.banking.discard(lineage_id)
        self.stopping.discard(lineage_id)

    def note_round(self, problem_id: str, round_: int) -> None:
        """An indexed problem entered the index in `round_` (the first round noted wins)."""
        noted = self.rounds.setdefault(problem_id, round_)
        self.by_round.setdefault(noted, set()).add(problem_id)
        self.newest = max(self.newest, noted)
        self.unknown.discard(problem_id)

    def recent(self, round_: int) -> set[str]:
        """Indexed problems not from a round before `round_` (unknown round: a replayed one).

        Reads the unknown ones and the rounds from `round_` on: its cost follows what it
        returns and the rounds since `round_`, not the size of the bank (it runs before
        every critique).
        """
        out = set(self.unknown)
        for r in range(round_, self.newest + 1):
            out |= self.by_round.get(r, set())
        return out


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
    _scopes: dict[str, RunScope] = field(default_factory=dict)

    def scope(self, run_id: str) -> RunScope:
        """The run's scope, made on first use."""
        return self._scopes.setdefault(run_id, RunScope())

    def end_run(self, run_id: str) -> None:
        """Forget a finished run's scope (its dedup index is the largest thing a run holds).

        Its usage counts stay in the meter, a few numbers per model, for a last progress line.
        """
        self._scopes.pop(run_id, None)

    async def dedup(self, run_id: str, threshold: float) -> NearDupIndex:
        """The run's near-duplicate index, rebuilt from the bank on first use (resume-safe)."""
        scope = self.scope(run_id)
        if scope.dedup is None:
            index = await asyncio.to_thread(self._load_dedup, run_id, threshold)
            scope.dedup = scope.dedup or index
        return scope.dedup

    def _load_dedup(self, run_id: str, threshold: float) -> NearDupIndex:
        index = NearDupIndex(threshold=threshold)
        scope = self.scope(run_id)
        for outcome in self.bank.turns(run_id):
            if outcome.valid and outcome.problem_id:
                scope.rounds.setdefault(outcome.problem_id, outcome.round)
        for problem in self.bank.problems(run_id):
            index.add(problem.id, problem_text(problem))
            if problem.id in scope.rounds:
                scope.note_round(problem.id, scope.rounds[problem.id])
            else:
                scope.unknown.add(problem.id)
        return index

    def accepted_in(self, run_id: str, problem_id: str, round_: int) -> None:
        """Note the round in which a problem entered the run's dedup index."""
        self.scope(run_id).note_round(problem_id, round_)

    async def recent(self, run_id: str, round_: int) -> set[str]:
        """Indexed problems not from a round before `round_` (unknown round: a replayed one).

        A killed run leaves the problems of its last, unfinished round in the bank without
        their turn records; treating them as recent keeps a resumed run equal to an
        uninterrupted one.
        """
        scope = self.scope(run_id)
        if scope.dedup is None:
            # Before the index is loaded nothing is known of rounds: every banked problem
            # would count as old, and a replayed turn would meet itself as a duplicate.
            raise RuntimeError("recent() before dedup(): load the run's index first")
        return scope.recent(round_)

    def model_checks(self) -> list[ModelCheck]:
        """Every chat model this run calls, by role, for the preflight (simulations have none)."""
        roles: list[tuple[str, str, object]] = [
            ("teacher", self.teacher.name, self.teacher),
            *(("student", name, s) for name, s in self.students.items()),
            ("critic", "critic", self.critic),
            ("summarizer", "summarizer", self.summarizer),
        ]
        return [
            ModelCheck(role, name, model)
            for role, name, agent in roles
            if isinstance(model := getattr(agent, "model", None), BaseChatModel)
        ]

    async def aclose(self) -> None:
        """Release the sandbox's workers."""
        await self.sandbox.aclose()


def model_settings(ctx: RunContext) -> ModelSettings:
    """The LLM settings every role shares, from the run context."""
    return ModelSettings(
        temperature=ctx.temperature,
        max_tokens=ctx.max_tokens,
        base_url=ctx.base_url,
        timeout_s=ctx.timeout_s,
        max_retries=ctx.max_retries,
        max_concurrency=ctx.endpoint_concurrency,
        engine_kwargs=ctx.vllm_engine,
        seed=ctx.seed,
    )


def role_settings(ctx: RunContext, role: str) -> ModelSettings:
    """The shared settings with this role's own (`roles` in the config) laid over them; a
    role is `teacher`, `critic`, `summarizer` or a student's spec."""
    settings = model_settings(ctx)
    own = ctx.roles.get(role)
    if own is None:
        return settings
    update = {k: v for k, v in own.model_dump(exclude={"options"}).items() if v is not None}
    return settings.model_copy(update={**update, "options": dict(own.options)})


def student_settings(ctx: RunContext, student: str) -> ModelSettings:
    """A student's settings (its entry in `roles`, over the shared ones)."""
    return role_settings(ctx, student)


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
    teacher = teacher or build_teacher(
        ctx.teacher,
        seed=ctx.seed,
        settings=role_settings(ctx, "teacher"),
        meter=meter,
        prompts=ctx.prompts,
        reply_format=ctx.teacher_format,
    )
    if students is None:
        built = {
            s: build_student(s, seed=ctx.seed, settings=student_settings(ctx, s), meter=meter)
            for s in ctx.students
        }
    elif isinstance(students, Mapping):
        built = dict(students)
    else:
        built = {s.name: s for s in students}
    sandbox = sandbox or get_sandbox(ctx.sandbox)
    critic = Critic(
        sandbox,
        ctx.sandbox,
        mutant_count=ctx.critic.mutants,
        min_kill_rate=ctx.critic.min_mutant_kill_rate,
        determinism_runs=ctx.critic.determinism_runs,
        benchmark=ctx.critic.decontaminate,
        model=build_chat_model(ctx.critic.model, role_settings(ctx, "critic")),
        meter=meter,
        model_name=ctx.critic.model or "",
        settings=role_settings(ctx, "critic"),
        prompts=ctx.prompts,
    )
    # Read the decontamination index now, with everything else built once, not in the first
    # critique (whose turn would wait for it).
    critic.benchmark()
    if summarizer is None and ctx.summarizer is not None:
        summary_settings = role_settings(ctx, "summarizer")
        model = build_chat_model(ctx.summarizer, summary_settings)
        summarizer = (
            LLMSummarizer(
                ctx.summarizer, model, meter=meter, settings=summary_settings, prompts=ctx.prompts
            )
            if model
            else None
        )
    return Components(
        teacher=teacher,
        students=built,
        critic=critic,
        sandbox=sandbox,
        bank=bank or Bank(ctx.bank),
        meter=meter,
        summarizer=summarizer,
    )


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
                self._cache[key] = await asyncio.to_thread(build_components, ctx, **self.injected)  # type: ignore[arg-type]
            return self._cache[key]

    def tokens(self, run_id: str) -> int:
        """LLM tokens (in + out) the run has spent so far in this process."""
        return sum(
            u.input_tokens + u.output_tokens
            for comps in self._cache.values()
            for u in comps.meter.totals(run_id)
        )

    async def aclose(self) -> None:
        """Close everything built so far."""
        for comps in self._cache.values():
            await comps.aclose()
        self._cache.clear()


@dataclass(frozen=True)
class Parts:
    """How a node reaches its context and components: bound into every node by the wiring
    (`graphs/curriculum.py`), so each node is a plain module function a test can call."""

    resolver: ComponentResolver
    context_required: bool = True
    """False only for Studio's graph, which may start a thread with an empty context form."""

    def context(self, runtime: object) -> RunContext:
        """The run's context (MissingContext when the caller passed none and one is required)."""
        return get_context(runtime, required=self.context_required)

    async def get(self, runtime: object, run_id: str) -> tuple[RunContext, Components]:
        """The context and components, with this node's model calls counted under `run_id`."""
        ctx = self.context(runtime)
        current_run.set(run_id)
        return ctx, await self.resolver.get(ctx)
