"""Run or resume the curriculum graph with a checkpointer, streaming progress to a callback.

A run directory holds `bank.sqlite` (the problem bank), `checkpoints.sqlite` (LangGraph's
SQLite checkpointer, one thread per run id) and `report.json`. The run id is the thread id,
so `resume(run_id)` continues from the last completed superstep; bank writes are idempotent,
so replayed nodes duplicate nothing.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import sqlite3
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AsyncExitStack, asynccontextmanager, closing, contextmanager
from pathlib import Path
from typing import Any, cast

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.types import Command
from pydantic import BaseModel, Field

from stepstones.agents.preflight import preflight
from stepstones.graphs.components import ComponentResolver, model_settings
from stepstones.graphs.context import ConfigError, RunContext
from stepstones.graphs.curriculum import build_graph
from stepstones.graphs.run_nodes import context_seeds
from stepstones.graphs.state import SERDE_ALLOWLIST, RunState
from stepstones.integrity import BankMismatch, verify
from stepstones.stops import (
    RunStopped,
    SignalStop,
    StorageError,
    is_storage_error,
    storage_error,
)
from stepstones.tools.quotas import counting_order, split_quota
from stepstones.tools.schema import ModelDrop, Seed, TurnOutcome
from stepstones.tools.store import Bank

BANK_FILE = "bank.sqlite"
CHECKPOINT_FILE = "checkpoints.sqlite"
REPORT_FILE = "report.json"


class RunResult(BaseModel):
    """How a run ended and where its outputs are."""

    run_id: str
    out: Path
    stop_reason: str | None
    report: dict[str, Any]
    already_finished: bool = False


class Progress(BaseModel):
    """What a progress display needs after each turn."""

    run_id: str
    outcomes: list[TurnOutcome]
    bands: dict[str, tuple[int, int]]
    teacher_calls: int
    tokens: int = 0
    dropped: list[ModelDrop] = Field(default_factory=list)
    """Models left out of the run so far (a display prints each once)."""


def serde() -> JsonPlusSerializer:
    """The checkpoint serializer, allowing exactly stepstones' own records."""
    return JsonPlusSerializer(allowed_msgpack_modules=SERDE_ALLOWLIST)


def prepare_out(out: Path) -> Path:
    """Create `out` if needed and prove it writable before anything else is written."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out, prefix=".write-test-"):
            pass
    except OSError as exc:
        raise ConfigError(f"output directory {out} is not writable: {exc.strerror}") from exc
    return out


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    """Write JSON via a temp file and rename, so a reader never sees half a file."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=False))
    os.replace(tmp, path)


LOCK_FILE = ".lock"


@contextmanager
def _only_run_in(out: Path) -> Iterator[None]:
    """Hold `out` for this run: a second run (or resume) there meanwhile is a ConfigError.

    Two runs writing one directory end with the last finisher's report.json and a bank the
    first one's report does not describe. The lock is the OS's (flock), so a killed run
    leaves none behind.
    """
    import fcntl

    path = out / LOCK_FILE
    with path.open("a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "?"
            raise ConfigError(
                f"{out} is in use by another stepstones run (pid {holder}); wait "
                "for it to finish or pick another --out"
            ) from None
        f.seek(0)
        f.truncate()
        f.write(str(os.getpid()))
        f.flush()
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


@asynccontextmanager
async def sqlite_checkpointer(path: Path) -> AsyncIterator[BaseCheckpointSaver[Any]]:
    """LangGraph's AsyncSqliteSaver at `path` with stepstones' serde.

    Its own code path, unchanged. The run streams with "sync" durability (`_stream`), so every
    checkpoint is committed before the graph goes on, and a failed write (a full disk, a
    read-only or broken file) stops the run at that step instead of being lost behind it. The
    inline saver with grouped commits it replaced was 0.5-1.4 ms per turn faster with instant
    models (docs/benchmarks.md, 2026-12-03).
    """
    import aiosqlite
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    async with aiosqlite.connect(str(path)) as conn:
        saver = AsyncSqliteSaver(conn, serde=serde())
        await saver.setup()  # tables, WAL mode
        # In WAL mode, NORMAL syncs when the log is checkpointed, not at every commit: a killed
        # process loses nothing (the OS holds the writes); a power cut can drop the last few
        # steps, which a resume replays (the bank, synced at every commit, is never behind).
        await conn.execute("PRAGMA synchronous=NORMAL")
        yield saver


@asynccontextmanager
async def postgres_checkpointer(url: str) -> AsyncIterator[BaseCheckpointSaver[Any]]:
    """LangGraph's Postgres checkpointer (extra `postgres`) for multi-worker deployments."""
    try:
        from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
    except ImportError as exc:
        raise ConfigError(
            'the Postgres checkpointer needs: pip install "stepstones[postgres]"'
        ) from exc
    async with AsyncExitStack() as stack:
        try:
            saver = await stack.enter_async_context(
                AsyncPostgresSaver.from_conn_string(url, serde=serde())
            )
            await saver.setup()
        except Exception as exc:  # psycopg's errors for a bad URL, host, password or database
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ConfigError(
                f"cannot use the Postgres checkpointer --postgres {_redacted(url)}: {first}"
            ) from None
        yield saver


def _redacted(url: str) -> str:
    """`url` without its password, for an error message."""
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)


PROGRESS_S = 0.25
"""How often a flowing run's progress is reported, at most."""


def _progress(run_id: str, state: RunState, ctx: RunContext, tokens: int = 0) -> Progress:
    outcomes = state.get("outcomes", [])
    counts, _ = split_quota(outcomes, {b.name: b.quota for b in ctx.bands})
    return Progress(
        run_id=run_id,
        outcomes=outcomes,
        bands={b.name: (counts.get(b.name, 0), b.quota) for b in ctx.bands},
        teacher_calls=sum(o.teacher_calls for o in outcomes),
        tokens=tokens,
        dropped=list(state.get("dropped", {}).values()),
    )


Reviewer = Callable[[dict[str, Any]], dict[str, Any] | None]
"""Answers a `review_problem` interrupt (see ReviewDecision), or None to leave it pending."""


async def run_pipeline(
    ctx: RunContext,
    out: Path,
    *,
    run_id: str | None = None,
    resume: bool = False,
    postgres_url: str | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    reviewer: Reviewer | None = None,
    resolver: ComponentResolver | None = None,
    stopper: SignalStop | None = None,
) -> RunResult:
    """Run (or resume) one curriculum run writing into `out`; returns its report.

    The checkpointer (a Postgres one first: its URL can be wrong) and the components are set
    up, and every model answers one tiny request (`agents.preflight`), before anything else,
    so a bad setting, a dead endpoint or an engine that crashes on this CPU fails with nothing
    written (a directory this call created is removed again). With a `stopper` (installed by
    the caller), SIGINT/SIGTERM cancel the run and raise RunStopped. A storage failure raises
    StorageError.
    """
    run_id = run_id or uuid.uuid4().hex[:12]
    if stopper is not None:
        stopper.attach()
    try:
        return await _run(
            ctx,
            out,
            run_id,
            resume,
            postgres_url,
            on_progress,
            reviewer,
            resolver or ComponentResolver(),
        )
    except asyncio.CancelledError:
        if stopper is None or stopper.caught is None:
            raise
        raise RunStopped(stopper.caught) from None
    except Exception as exc:
        if is_storage_error(exc):
            raise storage_error(
                exc, out, run_id, await asyncio.to_thread(resumable, out, run_id)
            ) from exc
        raise
    finally:
        if stopper is not None:
            stopper.detach()


async def _run(
    ctx: RunContext,
    out: Path,
    run_id: str,
    resume: bool,
    postgres_url: str | None,
    on_progress: Callable[[Progress], None] | None,
    reviewer: Reviewer | None,
    resolver: ComponentResolver,
) -> RunResult:
    config: RunnableConfig = {
        "configurable": {"thread_id": run_id},
        "max_concurrency": max(4, ctx.lineages_in_flight * 4),
        "recursion_limit": 10_000,
    }
    async with AsyncExitStack() as stack:
        saver = (
            await stack.enter_async_context(postgres_checkpointer(postgres_url))
            if postgres_url
            else None
        )
        created = not out.exists()
        out = prepare_out(out)
        stack.enter_context(_only_run_in(out))
        ctx = ctx.model_copy(update={"bank": str(out / BANK_FILE)})
        stack.push_async_callback(resolver.aclose)
        # A new run's seeds load in a thread while the sandbox's workers start: a bad seed source
        # fails here, before any model is asked or anything is written, and start_run takes
        # them as loaded (the parse held back every lineage's first call: docs/benchmarks.md).
        loading = None if resume else asyncio.create_task(asyncio.to_thread(context_seeds, ctx))
        seeds: list[Seed] | None = None
        try:
            comps = await resolver.get(ctx)
            seeds = await loading if loading is not None else None
            await preflight(comps.model_checks(), model_settings(ctx), ctx.students)
        except Exception as exc:
            if created:
                shutil.rmtree(out, ignore_errors=True)
            from stepstones.tools.sandbox.local import IsolationUnavailable

            if isinstance(exc, IsolationUnavailable):  # a setting, not a crash
                raise ConfigError(
                    f"the local sandbox cannot start: {exc} "
                    "(STEPSTONES_SANDBOX__ALLOW_UNISOLATED=true)"
                ) from None
            raise
        finally:
            if loading is not None:
                await _settled(loading)  # no thread outlives the start, whichever way it went
        if saver is None:
            saver = await stack.enter_async_context(sqlite_checkpointer(out / CHECKPOINT_FILE))
        graph = build_graph(checkpointer=saver, resolver=resolver)
        inputs = await _entry(graph, config, out, run_id, resume)
        if isinstance(inputs, dict) and seeds is not None:
            inputs["seeds"] = seeds
        final = await graph.aget_state(config)
        while inputs is not FINISHED:
            await _stream(graph, inputs, config, ctx, run_id, on_progress, resolver)
            final = await graph.aget_state(config)
            pending = list(final.interrupts)
            answers = {
                i.id: a
                for i in pending
                if reviewer is not None and (a := reviewer(i.value)) is not None
            }
            if not pending or len(answers) < len(pending):
                break
            inputs = Command(resume=answers)
    state = cast("RunState", final.values)
    if final.interrupts:
        return RunResult(run_id=run_id, out=out, stop_reason="awaiting_review", report={})
    report = await asyncio.to_thread(finished_report, out, run_id, state)
    write_json_atomic(out / REPORT_FILE, report)
    return RunResult(
        run_id=run_id,
        out=out,
        stop_reason=state.get("stop_reason"),
        report=report,
        already_finished=inputs is FINISHED,
    )


async def _settled(task: asyncio.Task[Any]) -> None:
    """Wait for `task` to end with its outcome taken: the error raised is the one that came
    first (a cancelled run still stops at once: only the wait is cancelled, not the task)."""
    await asyncio.wait({task})
    if not task.cancelled():
        task.exception()


FINISHED = object()
"""`_entry`'s answer for a resumed run that has nothing left to do."""


async def _entry(graph: Any, config: RunnableConfig, out: Path, run_id: str, resume: bool) -> Any:
    """The graph's input for this start (FINISHED: none), once the bank and checkpoints agree.

    A new run must have neither checkpoints nor bank records under its id; a resumed one must
    find in the bank every turn its checkpoints hold. A run killed before its first checkpoint
    has nothing to resume from and starts again.
    """
    try:
        snapshot = await graph.aget_state(config)
    except Exception as exc:
        if is_storage_error(exc):
            raise
        # A checkpoint that does not deserialise (a damaged blob) is not the program failing.
        raise ConfigError(
            f"cannot read the checkpoints of run {run_id}: {type(exc).__name__}: {exc}; they are "
            f"damaged (restore {out / CHECKPOINT_FILE}, or its --postgres database, or start a "
            "new run)"
        ) from None
    bank_path = out / BANK_FILE
    if not snapshot.values:
        banked = await asyncio.to_thread(_banked_turns, bank_path, run_id)
        if banked:
            raise (BankMismatch if resume else ConfigError)(
                f"the bank {bank_path} holds {banked} turns of run {run_id} but its "
                f"checkpoints ({out / CHECKPOINT_FILE}) hold none"
                + ("" if resume else ": pick another --run-id or --out")
            )
        return {"run_id": run_id}
    if not resume:
        raise ConfigError(
            f"run {run_id} already exists in {out}; continue it with "
            f"--resume {run_id} or pick another --run-id"
        )
    outcomes = list(snapshot.values.get("outcomes") or [])
    await asyncio.to_thread(verify, bank_path, run_id, outcomes, when="on resume")
    # A kill right after a node wrote its results leaves `next` empty but the task (with its
    # saved writes) pending: only no tasks at all means finished.
    if not snapshot.next and not snapshot.tasks:
        return FINISHED
    return None


def _banked_turns(bank_path: Path, run_id: str) -> int:
    if not bank_path.exists():
        return 0
    bank = Bank(bank_path)
    try:
        return bank.count("turns", run_id)
    finally:
        bank.close()


def finished_report(out: Path, run_id: str, state: RunState) -> dict[str, Any]:
    """The finished run's report as its bank holds it, once the bank matches the checkpoints.

    Read through a new connection to the bank file, so a bank deleted or replaced while the
    run wrote to it cannot pass for a whole one.
    """
    bank_path = out / BANK_FILE
    verify(
        bank_path,
        run_id,
        list(state.get("outcomes") or []),
        when="at the end of the run",
        exact=True,
    )
    bank = Bank(bank_path)
    try:
        row = bank.get_run(run_id) or {}
    finally:
        bank.close()
    if not row.get("report"):
        raise BankMismatch(f"the bank {bank_path} holds no report for finished run {run_id}")
    report: dict[str, Any] = json.loads(row["report"])
    return report


async def _stream(
    graph: Any,
    inputs: Any,
    config: RunnableConfig,
    ctx: RunContext,
    run_id: str,
    on_progress: Callable[[Progress], None] | None,
    resolver: ComponentResolver,
) -> None:
    # "sync": a step's checkpoint is saved before the next step starts (subgraphs inherit it).
    # Under LangGraph's default, "async", a slot's turn could bank its record while the step
    # that admitted it was still unsaved; killed then, the resumed slot redid that step, found
    # the bands full and ended, and the bank held a turn no checkpoint had (BankMismatch).
    if ctx.flowing:
        # The run graph's steps are its start and end: progress comes from the slots' steps,
        # counted by the run's ledger (graphs/flow.py), which every slot shares.
        comps = await resolver.get(ctx)
        shown, at = -1, 0.0
        async for ns, _values in graph.astream(
            inputs, config, context=ctx, stream_mode="values", subgraphs=True, durability="sync"
        ):
            book = comps.scope(run_id).ledger
            # At most every PROGRESS_S (a progress line sorts every turn so far), and at the end.
            due = not ns or time.monotonic() - at >= PROGRESS_S
            if on_progress is not None and book is not None and len(book.outcomes) != shown and due:
                shown, at = len(book.outcomes), time.monotonic()
                flowing: RunState = {
                    "outcomes": sorted(book.outcomes.values(), key=counting_order),
                    "dropped": dict(book.dropped),
                }
                on_progress(_progress(run_id, flowing, ctx, resolver.tokens(run_id)))
        return
    async for values in graph.astream(
        inputs, config, context=ctx, stream_mode="values", durability="sync"
    ):
        if on_progress is not None and values.get("outcomes") is not None:
            on_progress(_progress(run_id, values, ctx, resolver.tokens(run_id)))


def resumable(out: Path, run_id: str) -> bool:
    """Whether `--resume run_id` can work in `out`: its bank knows the run (read-only look)."""
    bank_path = out / BANK_FILE
    if not bank_path.exists():
        return False
    try:
        with closing(sqlite3.connect(f"{bank_path.as_uri()}?mode=ro", uri=True)) as db:
            return db.execute("select 1 from runs where id = ?", [run_id]).fetchone() is not None
    except sqlite3.Error:
        return False


def stored_context(out: Path, run_id: str) -> RunContext:
    """The context a run was started with, from its bank (so a resume runs the same config)."""
    bank_path = out / BANK_FILE
    if not bank_path.exists():
        raise ConfigError(f"no bank at {bank_path}: is --out the run's directory?")
    try:
        bank = Bank(bank_path)
        try:
            row = bank.get_run(run_id)
        finally:
            bank.close()
    except sqlite3.Error as exc:
        raise StorageError(
            f"cannot read the bank {bank_path}: {exc} (damaged, or its -wal "
            "and -shm files were changed or removed?)"
        ) from None
    if row is None:
        if _checkpointed(out / CHECKPOINT_FILE, run_id):
            # The run's first commits are gone (a -wal cut back, its -shm index rebuilt): the
            # checkpoints remember a run the bank no longer has, so the output is lost.
            raise BankMismatch(
                f"on resume: the bank {bank_path} does not match the checkpoints of run "
                f"{run_id}: they hold the run, the bank has no record of it (was the bank or "
                "its -wal file deleted, truncated or replaced?)"
            )
        raise ConfigError(f"unknown run {run_id} in {bank_path}")
    return RunContext.model_validate(json.loads(row["config"]))


def _checkpointed(path: Path, run_id: str) -> bool:
    """Whether the local checkpoint file holds a checkpoint of `run_id` (a read-only look)."""
    if not path.exists():
        return False
    try:
        with closing(sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)) as db:
            row = db.execute("select 1 from checkpoints where thread_id = ? limit 1", [run_id])
            return row.fetchone() is not None
    except sqlite3.Error:
        return False
