"""How a run stops short of finishing: a signal, or storage that can no longer be written.

A signal may come at any moment, from before the components are built to after the report is
written, so `SignalStop` is installed once, first thing, by the command line: while a run's
task is attached, the first SIGINT/SIGTERM cancels it (everything up to the last checkpoint is
kept); at any other moment it raises `RunStopped` where the program is. Whether the stopped run
can be resumed is looked up afterwards, in the bank, so the hint is never a command that fails.

A storage error (a full disk, a read-only or corrupt file) is one `StorageError` line with the
resume command: the failed write was not committed, and a resume replays the step that made it.
"""

from __future__ import annotations

import asyncio
import errno
import signal
import sqlite3
from pathlib import Path
from types import FrameType
from typing import Any

STORAGE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO})
EXIT_CODES = {"SIGINT": 130, "SIGTERM": 143}
"""128 + the signal's number, as shells report a process the signal ended."""


class RunStopped(RuntimeError):
    """A signal stopped the run; everything up to the last finished step is checkpointed."""

    def __init__(self, signame: str) -> None:
        self.signame = signame
        super().__init__(f"stopped by {signame}")

    @property
    def exit_code(self) -> int:
        """The exit status a shell expects of a process this signal stopped."""
        return EXIT_CODES.get(self.signame, 1)


class StorageError(RuntimeError):
    """The bank, the checkpoints or the report could not be written or read."""


def is_storage_error(exc: BaseException) -> bool:
    """Whether `exc` is the disk or a database file failing, not the program."""
    if isinstance(exc, sqlite3.Error):
        return True
    return isinstance(exc, OSError) and exc.errno in STORAGE_ERRNOS


def storage_error(exc: BaseException, out: Path, run_id: str, resumable: bool) -> StorageError:
    """The one line a user sees for a storage failure, with the resume command if any."""
    detail = str(exc) or type(exc).__name__
    hint = (
        f"; fix it, then resume with: stepstones run --out {out} --resume {run_id}"
        if resumable
        else "; nothing of the run was kept"
    )
    return StorageError(f"storage failed in {out}: {detail}{hint}")


class SignalStop:
    """The first SIGINT/SIGTERM, whenever it comes, becomes a clean stop (see the module)."""

    def __init__(self) -> None:
        self.caught: str | None = None
        self._task: asyncio.Task[object] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._previous: dict[signal.Signals, Any] = {}

    def install(self) -> None:
        """Handle SIGINT and SIGTERM in this process until `uninstall` (main thread only)."""
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._previous[sig] = signal.signal(sig, self._handle)

    def uninstall(self) -> None:
        """Give SIGINT and SIGTERM their handlers from before `install` back.

        A caller that runs the command in its own process (a test, a notebook) keeps working
        as before; a process it forks later must not inherit a handler that ignores SIGTERM
        once a signal was caught (a forked pool worker then never stopped).
        """
        while self._previous:
            sig, handler = self._previous.popitem()
            signal.signal(sig, handler)

    def attach(self) -> None:
        """Make the running task the one a signal cancels (call inside the run's task)."""
        self._task = asyncio.current_task()
        self._loop = asyncio.get_running_loop()
        if self.caught is not None:
            raise RunStopped(self.caught)

    def detach(self) -> None:
        """No task to cancel any more: a signal now raises where the program is."""
        self._task = self._loop = None

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.caught is not None:
            return  # already stopping
        self.caught = signal.Signals(signum).name
        if self._task is not None and self._loop is not None:
            self._loop.call_soon_threadsafe(self._task.cancel)
            return
        raise RunStopped(self.caught)
