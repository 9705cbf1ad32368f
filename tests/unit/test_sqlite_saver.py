"""The runner's SQLite checkpointer: commits grouped per loop iteration, none left pending."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

from langgraph.checkpoint.base import empty_checkpoint

from stepstones.runner import sqlite_checkpointer
from stepstones.sqlite_saver import InlineSqliteSaver


def _config(thread: str) -> Any:
    return {"configurable": {"thread_id": thread, "checkpoint_ns": ""}}


def _committed(path: Path) -> int:
    """Checkpoints another connection sees: only committed ones."""
    with sqlite3.connect(path) as other:
        (n,) = other.execute("select count(*) from checkpoints").fetchone()
    return int(n)


def test_writes_in_one_loop_iteration_share_a_commit_made_when_the_loop_turns(
    tmp_path: Path,
) -> None:
    path = tmp_path / "cp.sqlite"

    async def main() -> None:
        errors: list[dict[str, Any]] = []
        asyncio.get_running_loop().set_exception_handler(lambda _loop, ctx: errors.append(ctx))
        async with sqlite_checkpointer(path) as saver:
            for i in range(3):
                cp = empty_checkpoint()
                await saver.aput(_config(f"t{i}"), cp, {}, {})
                await saver.aput_writes({"configurable": {"thread_id": f"t{i}",
                                                          "checkpoint_ns": "",
                                                          "checkpoint_id": cp["id"]}},
                                        [("x", i)], "task")
            # Written but not yet committed: the saver's own reads see them, others do not.
            assert saver.get_tuple(_config("t2")) is not None
            assert _committed(path) == 0
            await asyncio.sleep(0)  # the loop turns: one commit for all six writes
            assert _committed(path) == 3
            await saver.aput(_config("t9"), empty_checkpoint(), {}, {})
        # Leaving the context commits what is still pending.
        assert _committed(path) == 4
        await asyncio.sleep(0)  # the last write's scheduled commit runs: nothing left to do
        assert errors == []

    asyncio.run(main())


def test_outside_an_event_loop_every_write_commits_at_once(tmp_path: Path) -> None:
    path = tmp_path / "cp.sqlite"
    conn = sqlite3.connect(path, check_same_thread=False)
    try:
        saver = InlineSqliteSaver(conn)
        saver.put(_config("t"), empty_checkpoint(), {}, {})
        assert _committed(path) == 1
    finally:
        conn.close()
