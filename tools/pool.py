"""A function over a stream of jobs in a process pool, results in the jobs' order, memory bounded.

`concurrent.futures.Executor.map` submits every job before it returns the first result, so a
stream of 100k problems would be read into memory at once; `in_order` keeps at most two jobs
per worker in flight.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
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


def in_order(
    fn: Callable[[J], T],
    jobs: Iterable[J],
    workers: int,
    initializer: Callable[..., None] | None = None,
    initargs: tuple[Any, ...] = (),
) -> Iterator[T]:
    """`fn(job)` for each job, in the jobs' order: in `workers` processes (each started with
    `initializer(*initargs)`; `fn` and the jobs must pickle), or here when `workers` <= 1."""
    if workers <= 1:
        if initializer is not None:
            initializer(*initargs)
        for job in jobs:
            yield fn(job)
        return
    with ProcessPoolExecutor(workers, initializer=initializer, initargs=initargs) as pool:
        pending: deque[Future[T]] = deque()
        for job in jobs:
            pending.append(pool.submit(fn, job))
            if len(pending) >= 2 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
