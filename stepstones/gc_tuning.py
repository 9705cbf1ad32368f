"""Python's cyclic garbage collector, tuned for the length of a curriculum run.

A run allocates many short-lived objects per turn (LangGraph's task and checkpoint records,
pydantic models, LangChain messages) on top of a large long-lived heap built once (the
libraries, the HumanEval decontamination index, the seeds). With Python's default thresholds
(700, 10, 10) a full collection ran every few dozen turns and walked that whole heap each time:
measured with `gc.callbacks` in the orchestration benchmark on the 2-core VM, collections took
0.8-3.7 ms per turn, most of it in full collections. Freezing the heap built before the
run (it moves to a permanent generation that collections skip) and raising the first threshold
to 10,000 allocations cut that to 0.02-0.22 ms per turn (docs/benchmarks.md). Garbage cycles are
still collected, only in larger batches; memory use did not change measurably.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

RUN_THRESHOLDS = (10_000, 10, 10)


@contextmanager
def tuned_gc() -> Iterator[None]:
    """Freeze what exists now and collect young objects less often, until the block exits.

    Enter it once the run's components are built, so their objects are frozen with the rest.
    On exit the thresholds are restored and the frozen objects return to the oldest generation,
    unless something had frozen objects before (a caller's own freeze, an enclosing block):
    those cannot be told apart from ours, so everything then stays frozen.
    """
    before = gc.get_threshold()
    was_frozen = gc.get_freeze_count() > 0
    gc.collect()
    gc.freeze()
    gc.set_threshold(*RUN_THRESHOLDS)
    try:
        yield
    finally:
        gc.set_threshold(*before)
        if not was_frozen:
            gc.unfreeze()
