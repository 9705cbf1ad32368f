"""The runner's collector tuning: frozen heap and a higher first threshold, all undone after."""

from __future__ import annotations

import gc

from stepstones.gc_tuning import RUN_THRESHOLDS, tuned_gc


def test_the_heap_is_frozen_and_thresholds_raised_inside_and_restored_after() -> None:
    before = gc.get_threshold()
    assert gc.get_freeze_count() == 0
    with tuned_gc():
        assert gc.get_threshold() == RUN_THRESHOLDS
        assert gc.get_freeze_count() > 0
        # Garbage cycles made during the run are still collected.
        cycle: list[object] = []
        cycle.append(cycle)
        del cycle
        assert gc.collect() >= 1
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_a_callers_own_freeze_is_left_in_place() -> None:
    gc.freeze()
    try:
        with tuned_gc():
            pass
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
