"""The problem bank: runs, problems, attempts, summaries, rejections and usage in SQLite.

This is the only module that imports sqlite_utils. Every write is an upsert on a content-hash
key, so a node that LangGraph replays after a crash rewrites the same rows instead of adding new
ones. Records go in and come out as the pydantic models of `schema`.
"""

from __future__ import annotations

import json
import sqlite3
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, overload

from pydantic import BaseModel

if TYPE_CHECKING:
    import sqlite_utils

from stepstones.tools.quotas import split_quota
from stepstones.tools.schema import (
    Attempt,
    Critique,
    ModelCall,
    ModelDrop,
    PerformanceSummary,
    Problem,
    Seed,
    TurnOutcome,
    Usage,
    content_hash,
)

M = TypeVar("M", bound=BaseModel)
DEFAULT_OUT = Path("stepstones-out")
"""Where `stepstones run` writes when no --out is given; its bank is DEFAULT_BANK."""
BANK_FILE = "bank.sqlite"
DEFAULT_BANK = DEFAULT_OUT / BANK_FILE


def _sqlite_utils() -> Any:
    """sqlite_utils, imported on first use with pandas hidden from it.

    sqlite_utils.db imports pandas whenever it is installed (the export extra brings it) only
    to map `pd.Timestamp` columns, which the bank never writes: that is 0.5 s and 68 MiB of a
    run's start-up. Hiding it makes its `import pandas` fail as if absent; a pandas that is
    already imported is left alone, and a later `import pandas` elsewhere works as usual.
    """
    if "sqlite_utils" in sys.modules or "pandas" in sys.modules:
        import sqlite_utils

        return sqlite_utils
    sys.modules["pandas"] = None  # type: ignore[assignment]  # makes `import pandas` fail
    try:
        import sqlite_utils
    finally:
        del sys.modules["pandas"]
    return sqlite_utils


class RunNotFound(LookupError):
    """A run id the bank does not hold (or an empty bank); the message lists the recent runs."""


class Bank:
    """A SQLite problem bank at `path` (created on first use, survives restarts)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # One connection shared by the event loop's worker threads, serialised by self._lock.
        conn = sqlite3.connect(str(self.path), check_same_thread=False)
        self.db: sqlite_utils.Database = _sqlite_utils().Database(conn, recursive_triggers=False)
        self.db.conn.execute("PRAGMA journal_mode=WAL")
        # FULL: a commit is on disk before the graph checkpoints the step that made it, so a
        # power cut can leave the bank ahead of the checkpoints (replayed onto the same rows),
        # never behind them. One sync per banked turn, next to seconds of model time.
        self.db.conn.execute("PRAGMA synchronous=FULL")
        self._lock = threading.RLock()
        _ = self.db.supports_on_conflict  # probed once here (it creates a table), not mid-run
        self._ensure_tables()

    # -- schema -----------------------------------------------------------------------------

    def _ensure_tables(self) -> None:
        with self._lock:
            t = self.db.table
            t("runs").create(
                {
                    "id": str,
                    "created": float,
                    "updated": float,
                    "status": str,
                    "config": str,
                    "report": str,
                },
                pk="id",
                if_not_exists=True,
            )
            t("seeds").create(
                {
                    "run_id": str,
                    "id": str,
                    "kind": str,
                    "source": str,
                    "text": str,
                    "origin": str,
                    "path": str,
                    "row": int,
                    "first_line": int,
                    "last_line": int,
                    "license": str,
                },
                pk=("run_id", "id"),
                if_not_exists=True,
            )
            t("problems").create(
                {
                    "run_id": str,
                    "id": str,
                    "lineage_id": str,
                    "seed_id": str,
                    "root_id": str,
                    "parent_id": str,
                    "turn": int,
                    "direction": str,
                    "family": str,
                    "level": int,
                    "title": str,
                    "band": str,
                    "pass_rate": float,
                    "valid": int,
                    "created": float,
                    "record": str,
                },
                pk=("run_id", "id"),
                if_not_exists=True,
            )
            t("attempts").create(
                {
                    "run_id": str,
                    "id": str,
                    "problem_id": str,
                    "student": str,
                    "sample": int,
                    "status": str,
                    "passed": int,
                    "total": int,
                    "record": str,
                },
                pk=("run_id", "id"),
                if_not_exists=True,
            )
            t("summaries").create(
                {"run_id": str, "problem_id": str, "pass_rate": float, "record": str},
                pk=("run_id", "problem_id"),
                if_not_exists=True,
            )
            t("rejections").create(
                {
                    "run_id": str,
                    "id": str,
                    "lineage_id": str,
                    "turn": int,
                    "attempt": int,
                    "problem_id": str,
                    "codes": str,
                    "feedback": str,
                    "record": str,
                },
                pk=("run_id", "id"),
                if_not_exists=True,
            )
            t("turns").create(
                {"run_id": str, "id": str, "lineage_id": str, "turn": int, "record": str},
                pk=("run_id", "id"),
                if_not_exists=True,
            )
            t("usage").create(
                {
                    "run_id": str,
                    "session": str,
                    "agent": str,
                    "model": str,
                    "calls": int,
                    "input_tokens": int,
                    "output_tokens": int,
                    "cost_usd": float,
                },
                pk=("run_id", "session", "agent", "model"),
                if_not_exists=True,
            )
            t("model_drops").create(
                {
                    "run_id": str,
                    "model": str,
                    "role": str,
                    "round": int,
                    "reason": str,
                    "record": str,
                },
                pk=("run_id", "role", "model"),
                if_not_exists=True,
            )
            t("model_calls").create(
                {
                    "id": int,
                    "run_id": str,
                    "session": str,
                    "agent": str,
                    "model": str,
                    "outcome": str,
                    "error": str,
                    "input_tokens": int,
                    "output_tokens": int,
                    "latency_s": float,
                    "at": float,
                    "messages": str,
                    "replies": str,
                },
                pk="id",
                if_not_exists=True,
            )
            for table, cols in (
                ("problems", ["run_id", "band"]),
                ("model_calls", ["run_id", "agent"]),
                ("attempts", ["run_id", "problem_id"]),
            ):
                self.db.table(table).create_index(cols, if_not_exists=True)
            # `_valid_holder` looks a problem up among a run's turns before every banked turn:
            # without this index each lookup parsed every turn record of the run (O(n) a turn).
            self.db.execute(
                "create index if not exists turns_problem_id on turns "
                "(run_id, json_extract(record, '$.problem_id'))"
            )

    # -- runs -------------------------------------------------------------------------------

    def start_run(self, run_id: str, config: dict[str, Any]) -> None:
        """Record a run (idempotent: resuming keeps its creation time)."""
        with self._lock:
            now = time.time()
            existing = self.get_run(run_id)
            self.db.table("runs").upsert(
                {
                    "id": run_id,
                    "created": existing["created"] if existing else now,
                    "updated": now,
                    "status": "running",
                    "config": json.dumps(config, default=str),
                    "report": existing["report"] if existing else None,
                },
                pk="id",
            )

    def finish_run(self, run_id: str, status: str, report: dict[str, Any]) -> None:
        """Mark a run finished and keep its report."""
        with self._lock:
            self.db.table("runs").upsert(
                {
                    "id": run_id,
                    "updated": time.time(),
                    "status": status,
                    "report": json.dumps(report),
                },
                pk="id",
            )

    def get_run(self, run_id: str) -> dict[str, Any] | None:
        """The run row, or None."""
        rows = self._rows("runs", "id = ?", [run_id])
        return rows[0] if rows else None

    def runs(self) -> list[dict[str, Any]]:
        """All runs, newest first."""
        with self._lock:
            return list(self.db.table("runs").rows_where(order_by="created desc"))

    def resolve_run(self, run_id: str | None) -> str:
        """`run_id` if this bank has it, else the newest run; RunNotFound says which exist."""
        if run_id is not None:
            if self.get_run(run_id) is None:
                known = ", ".join(r["id"] for r in self.runs()[:5]) or "none"
                raise RunNotFound(f"run {run_id!r} not found in {self.path} (recent runs: {known})")
            return run_id
        runs = self.runs()
        if not runs:
            raise RunNotFound(f"{self.path} holds no runs; run `stepstones run` first")
        return str(runs[0]["id"])

    # -- records ----------------------------------------------------------------------------

    def add_seeds(self, run_id: str, seeds: list[Seed]) -> None:
        """Store the seeds a run draws from (a bank from before the provenance columns gets
        them added)."""
        with self._lock:
            self.db.table("seeds").upsert_all(
                [{"run_id": run_id, **s.model_dump()} for s in seeds],
                pk=("run_id", "id"),
                alter=True,
            )

    def seeds(self, run_id: str) -> list[Seed]:
        """The seeds a run drew from, with whatever provenance the bank recorded."""
        fields = set(Seed.model_fields)
        return [
            Seed.model_validate({k: v for k, v in row.items() if k in fields})
            for row in self._rows("seeds", "run_id = ?", [run_id], order_by="id")
        ]

    def add_run_command(self, run_id: str, command: str) -> None:
        """Append the command line that started or resumed a run (for the dataset card)."""
        with self._lock:
            row = self.get_run(run_id)
            if row is None:
                return
            commands = [*json.loads(row.get("commands") or "[]"), command]
            self.db.table("runs").update(run_id, {"commands": json.dumps(commands)}, alter=True)

    def run_commands(self, run_id: str) -> list[str]:
        """The command lines recorded for a run, oldest first ([] when none was)."""
        row = self.get_run(run_id) or {}
        return [str(c) for c in json.loads(row.get("commands") or "[]")]

    def _write(self, rows: list[tuple[str, list[dict[str, Any]]]]) -> None:
        """Write whole rows to several tables in one transaction (replacing rows with the same key).

        The hot path: one commit per graph step instead of one per record, and no table
        introspection per call (the tables' columns are fixed by `_ensure_tables`).
        """
        with self._lock, self.db.conn:
            for table, records in rows:
                if not records:
                    continue
                cols = list(records[0])
                sql = (
                    f"INSERT OR REPLACE INTO [{table}] ({', '.join(f'[{c}]' for c in cols)}) "
                    f"VALUES ({', '.join('?' * len(cols))})"
                )
                self.db.conn.executemany(sql, [tuple(r[c] for c in cols) for r in records])

    @staticmethod
    def _problem_row(run_id: str, lineage_id: str, problem: Problem, valid: bool) -> dict[str, Any]:
        lin = problem.lineage
        return {
            "run_id": run_id,
            "id": problem.id,
            "lineage_id": lineage_id,
            "seed_id": lin.seed_id,
            "root_id": lin.root_id,
            "parent_id": lin.parent_id,
            "turn": lin.turn,
            "direction": lin.direction,
            "family": problem.family,
            "level": problem.level,
            "title": problem.title,
            "band": problem.band,
            "pass_rate": problem.pass_rate,
            "valid": int(valid),
            "created": time.time(),
            "record": problem.model_dump_json(),
        }

    @staticmethod
    def _attempt_rows(run_id: str, attempts: list[Attempt]) -> list[dict[str, Any]]:
        return [
            {
                "run_id": run_id,
                "id": a.id,
                "problem_id": a.problem_id,
                "student": a.student,
                "sample": a.sample,
                "status": a.verdict.status,
                "passed": a.verdict.passed,
                "total": a.verdict.total,
                "record": a.model_dump_json(),
            }
            for a in attempts
        ]

    @staticmethod
    def _summary_row(run_id: str, summary: PerformanceSummary) -> dict[str, Any]:
        return {
            "run_id": run_id,
            "problem_id": summary.problem_id,
            "pass_rate": summary.pass_rate,
            "record": summary.model_dump_json(),
        }

    @staticmethod
    def _rejection_row(
        run_id: str,
        lineage_id: str,
        turn: int,
        attempt: int,
        problem: Problem | None,
        critique: Critique,
    ) -> dict[str, Any]:
        return {
            "run_id": run_id,
            "id": content_hash(lineage_id, turn, attempt),
            "lineage_id": lineage_id,
            "turn": turn,
            "attempt": attempt,
            "problem_id": problem.id if problem else None,
            "codes": json.dumps([r.code for r in critique.rejections]),
            "feedback": critique.feedback,
            "record": json.dumps(
                {
                    "critique": critique.model_dump(mode="json"),
                    "problem": problem.model_dump(mode="json") if problem else None,
                }
            ),
        }

    @staticmethod
    def _turn_row(run_id: str, outcome: TurnOutcome) -> dict[str, Any]:
        return {
            "run_id": run_id,
            "id": content_hash(outcome.lineage_id, outcome.turn),
            "lineage_id": outcome.lineage_id,
            "turn": outcome.turn,
            "record": outcome.model_dump_json(),
        }

    def put_problem(self, run_id: str, lineage_id: str, problem: Problem, valid: bool) -> None:
        """Upsert a problem (its id is its content hash)."""
        self._write([("problems", [self._problem_row(run_id, lineage_id, problem, valid)])])

    def put_rejection(
        self,
        run_id: str,
        lineage_id: str,
        turn: int,
        attempt: int,
        problem: Problem | None,
        critique: Critique,
    ) -> None:
        """Record why the critic (or the parser) rejected a problem."""
        row = self._rejection_row(run_id, lineage_id, turn, attempt, problem, critique)
        self._write([("rejections", [row])])

    def put_rejected(
        self,
        run_id: str,
        lineage_id: str,
        turn: int,
        attempt: int,
        problem: Problem,
        critique: Critique,
    ) -> None:
        """A rejected problem and why, together (one transaction).

        A rejected copy of a problem the run already banked as valid (a duplicate) records only
        the rejection: the banked row, keyed by the same content id, stays as it is.
        """
        rejection = self._rejection_row(run_id, lineage_id, turn, attempt, problem, critique)
        with self._lock:
            if self._valid_holder(run_id, problem.id) is not None:
                self._write([("rejections", [rejection])])
                return
            self._write(
                [
                    ("problems", [self._problem_row(run_id, lineage_id, problem, valid=False)]),
                    ("rejections", [rejection]),
                ]
            )

    def _valid_holder(
        self, run_id: str, problem_id: str, turn_key: tuple[str, int] | None = None
    ) -> str | None:
        """The lineage of a valid turn record naming `problem_id`, other than `turn_key`'s."""
        rows = self.db.execute(
            "select lineage_id, turn from turns where run_id = ? and "
            "json_extract(record, '$.problem_id') = ? and json_extract(record, '$.valid') "
            "order by lineage_id, turn",
            [run_id, problem_id],
        ).fetchall()
        for lineage_id, turn in rows:
            if (lineage_id, turn) != turn_key:
                return str(lineage_id)
        return None

    def put_turn(self, run_id: str, outcome: TurnOutcome) -> None:
        """Record the compact outcome of one teacher turn."""
        self._write([("turns", [self._turn_row(run_id, outcome)])])

    def put_turn_result(
        self,
        run_id: str,
        lineage_id: str,
        problem: Problem,
        attempts: list[Attempt],
        summary: PerformanceSummary,
        outcome: TurnOutcome,
    ) -> str | None:
        """Everything a banded turn produced, in one transaction: the bank never holds a
        problem's attempts without its summary and turn record, or the reverse.

        Returns None when written; when another turn already banked this problem, writes
        nothing and returns that turn's lineage (the problem is a duplicate). The same turn
        replayed after a crash is not another turn: it rewrites its own rows.
        """
        with self._lock:
            holder = self._valid_holder(run_id, problem.id, (outcome.lineage_id, outcome.turn))
            if holder is not None:
                return holder
            self._write(
                [
                    ("problems", [self._problem_row(run_id, lineage_id, problem, valid=True)]),
                    ("attempts", self._attempt_rows(run_id, attempts)),
                    ("summaries", [self._summary_row(run_id, summary)]),
                    ("turns", [self._turn_row(run_id, outcome)]),
                ]
            )
            return None

    def set_usage(self, run_id: str, usage: list[Usage], session: str = "") -> None:
        """Replace one process's (`session`) per-agent usage totals of a run.

        A resumed run is a new session: its tokens add to those its earlier sessions spent
        (work replayed after a crash was really paid for twice).
        """
        with self._lock:
            self.db.table("usage").upsert_all(
                [{"run_id": run_id, "session": session, **u.model_dump()} for u in usage],
                pk=("run_id", "session", "agent", "model"),
            )

    # -- reads ------------------------------------------------------------------------------

    def _rows(
        self, table: str, where: str, args: list[Any], order_by: str | None = None
    ) -> list[dict[str, Any]]:
        """Rows fetched whole under the lock: a half-read cursor on the shared connection would
        lock the table against writes from the graph's other worker threads."""
        with self._lock:
            return list(self.db.table(table).rows_where(where, args, order_by=order_by))

    def problems(
        self, run_id: str, *, valid_only: bool = True, surplus: bool = True
    ) -> Iterator[Problem]:
        """Problems of a run in creation order; `surplus=False` leaves out the valid ones that
        landed in a band already holding its quota (`quota_surplus`)."""
        where = "run_id = ?" + (" and valid = 1" if valid_only else "")
        skip = set() if surplus else self.quota_surplus(run_id)
        for row in self._rows("problems", where, [run_id], order_by="created, id"):
            if row["id"] not in skip:
                yield Problem.model_validate_json(row["record"])

    def problem_ids(self, run_id: str, *, valid_only: bool = True) -> list[str]:
        """Ids of a run's problems in `problems`' order, without their records: where a reader
        that pages through a large run with `problems_by_id` starts."""
        where = "run_id = ?" + (" and valid = 1" if valid_only else "")
        with self._lock:
            rows = self.db.execute(
                f"select id from problems where {where} order by created, id", [run_id]
            ).fetchall()
        return [str(r[0]) for r in rows]

    @overload
    def problems_by_id(self, run_id: str, ids: Sequence[str]) -> list[Problem]: ...
    @overload
    def problems_by_id(self, run_id: str, ids: Sequence[str], view: type[M]) -> list[M]: ...
    def problems_by_id(
        self, run_id: str, ids: Sequence[str], view: type[BaseModel] = Problem
    ) -> list[Any]:
        """The run's problems with these ids, in their order, from one query (ids it does not
        hold are skipped). Callers page: a few hundred ids a call keep memory flat. `view` is
        a model of some of a problem's fields (extra fields ignored) for readers that need
        only those: the rest of the record is then skipped, not validated."""
        return [view.model_validate_json(r) for r in self.problem_records(run_id, ids)]

    def problem_records(self, run_id: str, ids: Sequence[str]) -> list[str]:
        """`problems_by_id` as the stored JSON records, unvalidated: for a reader that hands
        them to other processes (the export's screening pool) to be read there."""
        if not ids:
            return []
        marks = ", ".join("?" * len(ids))
        with self._lock:
            rows = self.db.execute(
                f"select id, record from problems where run_id = ? and id in ({marks})",
                [run_id, *ids],
            ).fetchall()
        records = {str(r[0]): str(r[1]) for r in rows}
        return [records[i] for i in ids if i in records]

    def quota_surplus(self, run_id: str) -> set[str]:
        """Ids of the run's problems past their band's quota (tools/quotas.py), by the quotas
        its stored config names."""
        row = self.get_run(run_id) or {}
        config = json.loads(row.get("config") or "{}")
        quotas = {
            str(b["name"]): int(b["quota"])
            for b in config.get("bands") or []
            if isinstance(b, dict) and "name" in b and "quota" in b
        }
        _, over = split_quota(self.turns(run_id), quotas)
        return {o.problem_id for o in over if o.problem_id is not None}

    def problem(self, run_id: str, problem_id: str) -> Problem | None:
        """One problem, or None."""
        rows = self._rows("problems", "run_id = ? and id = ?", [run_id, problem_id])
        return Problem.model_validate_json(rows[0]["record"]) if rows else None

    def attempts(self, run_id: str, problem_id: str | None = None) -> Iterator[Attempt]:
        """Attempts of a run, optionally of one problem."""
        where, args = "run_id = ?", [run_id]
        if problem_id is not None:
            where += " and problem_id = ?"
            args.append(problem_id)
        for row in self._rows("attempts", where, args, order_by="id"):
            yield Attempt.model_validate_json(row["record"])

    @overload
    def summaries_by_problem(
        self, run_id: str, problem_ids: Sequence[str]
    ) -> dict[str, PerformanceSummary]: ...
    @overload
    def summaries_by_problem(
        self, run_id: str, problem_ids: Sequence[str], view: type[M]
    ) -> dict[str, M]: ...
    def summaries_by_problem(
        self, run_id: str, problem_ids: Sequence[str], view: type[BaseModel] = PerformanceSummary
    ) -> dict[str, Any]:
        """The performance summaries of these problems by problem id, from one query (those
        without one are absent). Callers page, as with `problems_by_id`; `view` likewise reads
        only some fields."""
        if not problem_ids:
            return {}
        marks = ", ".join("?" * len(problem_ids))
        with self._lock:
            rows = self.db.execute(
                "select problem_id, record from summaries where run_id = ? "
                f"and problem_id in ({marks})",
                [run_id, *problem_ids],
            ).fetchall()
        return {str(r[0]): view.model_validate_json(r[1]) for r in rows}

    def summary(self, run_id: str, problem_id: str) -> PerformanceSummary | None:
        """The performance summary of a problem, or None."""
        rows = self._rows("summaries", "run_id = ? and problem_id = ?", [run_id, problem_id])
        return PerformanceSummary.model_validate_json(rows[0]["record"]) if rows else None

    def turns(self, run_id: str) -> list[TurnOutcome]:
        """All turn outcomes of a run, ordered by lineage and turn."""
        rows = self._rows("turns", "run_id = ?", [run_id], order_by="lineage_id, turn")
        return [TurnOutcome.model_validate_json(r["record"]) for r in rows]

    def rejections(self, run_id: str) -> list[dict[str, Any]]:
        """Rejection rows of a run (codes decoded)."""
        rows = self._rows("rejections", "run_id = ?", [run_id], order_by="id")
        return [{**r, "codes": json.loads(r["codes"])} for r in rows]

    def usage(self, run_id: str) -> list[Usage]:
        """Per-agent usage totals of a run, summed over its sessions."""
        totals: dict[tuple[str, str], Usage] = {}
        for r in self._rows("usage", "run_id = ?", [run_id], order_by="agent, model"):
            key = (r["agent"], r["model"])
            u = totals.setdefault(key, Usage(agent=r["agent"], model=r["model"]))
            u.calls += r["calls"]
            u.input_tokens += r["input_tokens"]
            u.output_tokens += r["output_tokens"]
            u.cost_usd += r["cost_usd"]
        return list(totals.values())

    def put_calls(self, run_id: str, calls: list[ModelCall], session: str = "") -> None:
        """Append model calls to the run's call log (`model_calls`: one row a call, messages
        and replies as JSON text, so `sqlite-utils rows bank.sqlite model_calls` reads them)."""
        if not calls:
            return
        self._write(
            [
                (
                    "model_calls",
                    [
                        {
                            "run_id": run_id,
                            "session": session,
                            "agent": c.agent,
                            "model": c.model,
                            "outcome": c.outcome,
                            "error": c.error,
                            "input_tokens": c.input_tokens,
                            "output_tokens": c.output_tokens,
                            "latency_s": c.latency_s,
                            "at": c.at,
                            "messages": json.dumps(c.messages),
                            "replies": json.dumps(c.replies),
                        }
                        for c in calls
                    ],
                )
            ]
        )

    def calls(self, run_id: str) -> list[ModelCall]:
        """The run's model calls in the order they were logged."""
        rows = self._rows("model_calls", "run_id = ?", [run_id], order_by="id")
        return [
            ModelCall(
                agent=r["agent"],
                model=r["model"],
                outcome=r["outcome"],
                error=r["error"],
                input_tokens=r["input_tokens"],
                output_tokens=r["output_tokens"],
                latency_s=r["latency_s"],
                at=r["at"],
                messages=json.loads(r["messages"]),
                replies=json.loads(r["replies"]),
            )
            for r in rows
        ]

    def put_model_drop(self, run_id: str, drop: ModelDrop) -> None:
        """Record that a model was left out of a run (idempotent per run, role and model)."""
        self._write(
            [
                (
                    "model_drops",
                    [
                        {
                            "run_id": run_id,
                            "model": drop.model,
                            "role": drop.role,
                            "round": drop.round,
                            "reason": drop.reason,
                            "record": drop.model_dump_json(),
                        }
                    ],
                )
            ]
        )

    def model_drops(self, run_id: str) -> list[ModelDrop]:
        """The models a run left out, in the order it dropped them."""
        rows = self._rows("model_drops", "run_id = ?", [run_id], order_by="round, role, model")
        return [ModelDrop.model_validate_json(r["record"]) for r in rows]

    def valid_problem_ids(self, run_id: str) -> set[str]:
        """Ids of the run's problems stored as valid."""
        with self._lock:
            rows = self.db.execute(
                "select id from problems where run_id = ? and valid = 1", [run_id]
            ).fetchall()
        return {r[0] for r in rows}

    def retire_orphans(self, run_id: str) -> list[str]:
        """Mark invalid the valid problems no valid turn record names; returns their ids.

        Only a replay can leave one: a turn redone after a crash that wrote a different problem
        (a model that does not repeat itself) rewrites its turn record, and the first problem
        is then no part of the run's result.
        """
        with self._lock, self.db.conn:
            named = {
                r[0]
                for r in self.db.execute(
                    "select json_extract(record, '$.problem_id') from turns where run_id = ? and "
                    "json_extract(record, '$.valid')",
                    [run_id],
                ).fetchall()
            }
            orphans = sorted(self.valid_problem_ids(run_id) - named)
            self.db.conn.executemany(
                "update problems set valid = 0 where run_id = ? and id = ?",
                [(run_id, pid) for pid in orphans],
            )
        return orphans

    def count(self, table: str, run_id: str) -> int:
        """Rows of `table` belonging to a run."""
        with self._lock:
            return self.db.table(table).count_where("run_id = ?", [run_id])

    def close(self) -> None:
        """Close the connection."""
        self.db.close()
