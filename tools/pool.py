"""Worker processes started once, and functions mapped over streams of jobs in the jobs' order.

`concurrent.futures.Executor.map` submits every job before it returns the first result, so a
stream of 100k problems would be read into memory at once; `Pool.map` keeps at most two jobs
per worker in flight. Start the pool before the caller's own memory grows: a forked worker
shares its parent's pages until it touches them, and Python touches every object it scans
(measured on a 100k export: workers forked after the screen held 1.6 GB of RSS together).
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from types import TracebackType
from typing import Any, TypeVar

J = TypeVar("J")
T = TypeVar("T")
MAX_WORKERS = 8
"""The default pool's cap: past a few processes the parent's own share is the limit."""


def default_workers() -> int:
    """Processes for a pool when none is asked for: the CPUs this process may use, capped."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, MAX_WORKERS))


def _ready() -> None:
    """A job that starts the pool's processes."""


class Pool:
    """`workers` processes, each started with `initializer(*initargs)`, started now; with one
    worker there are none and jobs run in this process (initialised here)."""

    def __init__(
        self,
        workers: int,
        initializer: Callable[..., None] | None = None,
        initargs: tuple[Any, ...] = (),
    ) -> None:
        self.workers = max(1, workers)
        self._executor: ProcessPoolExecutor | None = None
        if self.workers == 1:
            if initializer is not None:
                initializer(*initargs)
            return
        self._executor = ProcessPoolExecutor(
            self.workers, initializer=initializer, initargs=initargs
        )
        self._executor.submit(_ready).result()  # fork the processes now, while memory is small

    def map(self, fn: Callable[[J], T], jobs: Iterable[J]) -> Iterator[T]:
        """`fn(job)` for each job, in the jobs' order (`fn` and the jobs must pickle)."""
        if self._executor is None:
            for job in jobs:
                yield fn(job)
            return
        pending: deque[Future[T]] = deque()
        for job in jobs:
            pending.append(self._executor.submit(fn, job))
            if len(pending) >= 2 * self.workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()

    def close(self) -> None:
        """Stop the processes (after the jobs in flight)."""
        if self._executor is not None:
            self._executor.shutdown()
            self._executor = None

    def __enter__(self) -> Pool:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
