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

This saver is for stepstones' own runner (the CLI and `run_pipeline`); under `langgraph dev` or
LangGraph's server, the server brings its own checkpointer. The SQL, the schema and the file
format are LangGraph's own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import ChannelVersions, Checkpoint, CheckpointMetadata
from langgraph.checkpoint.base import CheckpointTuple as Tuple
from langgraph.checkpoint.sqlite import SqliteSaver


class InlineSqliteSaver(SqliteSaver):
    """SqliteSaver whose async methods run its sync ones on the calling thread."""

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
