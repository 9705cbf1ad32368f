"""LangGraph's SqliteSaver for async graphs, its async methods running its sync ones inline.

AsyncSqliteSaver goes through aiosqlite: one checkpoint write is four or five round trips to
aiosqlite's thread (cursor, execute, commit, close), all behind one asyncio lock. A curriculum
turn writes about 15 times (a checkpoint and the task writes of every superstep of the turn
subgraph), and on 2 cores that cost 15 ms per turn, more than the rest of the graph together.
The sync SqliteSaver does the same SQL; in WAL mode with synchronous=NORMAL a write (serialising
the checkpoint included) takes about 0.26 ms, less than a hop to a worker thread and back costs
under load, so the async methods call it directly. Measured per problem-turn with the
orchestration benchmark on the 2-core VM: aiosqlite 24-28 ms, sync saver in a worker thread
17-20 ms, inline 11-14 ms (docs/benchmarks.md).

Commits are grouped per event-loop iteration: a write inside a running loop commits when the
loop next turns (`call_soon`), so the checkpoint and task writes that several lineages' turns
make in one iteration share one commit (about 2.5 commits per turn instead of 14; a commit cost
about 75 us). A killed process can lose only writes made in the iteration it died in, which a
resume replays as it does any step it has no checkpoint for; sync use outside a loop commits at
once, and `flush` (called before the connection closes) commits whatever is pending.

This saver is for stepstones' own runner (the CLI and `run_pipeline`); under `langgraph dev` or
LangGraph's server, the server brings its own checkpointer. The SQL, the schema and the file
format are LangGraph's own.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import contextmanager
from sqlite3 import Cursor
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import ChannelVersions, Checkpoint, CheckpointMetadata
from langgraph.checkpoint.base import CheckpointTuple as Tuple
from langgraph.checkpoint.sqlite import SqliteSaver


class InlineSqliteSaver(SqliteSaver):
    """SqliteSaver whose async methods run its sync ones on the calling thread."""

    _commit_pending = False

    @contextmanager
    def cursor(self, transaction: bool = True) -> Iterator[Cursor]:
        """SqliteSaver's cursor, its commit deferred to the end of the loop iteration."""
        with self.lock:
            self.setup()
            cur = self.conn.cursor()
            try:
                yield cur
            finally:
                cur.close()
                if transaction:
                    self._commit_soon()

    def _commit_soon(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.conn.commit()
            return
        if not self._commit_pending:
            self._commit_pending = True
            loop.call_soon(self.flush)

    def flush(self) -> None:
        """Commit the writes made since the last commit, if any.

        A no-op when nothing is pending: the callback scheduled for a write may run after the
        runner's own flush has committed it and closed the connection.
        """
        with self.lock:
            if not self._commit_pending:
                return
            self._commit_pending = False
            self.conn.commit()

    async def aget_tuple(self, config: RunnableConfig) -> Tuple | None:
        """`get_tuple`."""
        return self.get_tuple(config)

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[Tuple]:
        """`list`, read whole first (the saver's lock is not held across yields)."""
        for item in list(self.list(config, filter=filter, before=before, limit=limit)):
            yield item

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        """`put`."""
        return self.put(config, checkpoint, metadata, new_versions)

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        """`put_writes`."""
        self.put_writes(config, writes, task_id, task_path)

    async def adelete_thread(self, thread_id: str) -> None:
        """`delete_thread`."""
        self.delete_thread(thread_id)

    async def aget_delta_channel_history(
        self, *, config: RunnableConfig, channels: Sequence[str]
    ) -> Mapping[str, Any]:
        """`get_delta_channel_history`."""
        return self.get_delta_channel_history(config=config, channels=channels)
