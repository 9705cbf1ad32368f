"""profile_pool's sorting of perf samples: what a sample was doing, and whose it was."""

from __future__ import annotations

from stepstones.evals.profile_pool import HOST, classify, tally

# `perf script -F comm,ip,sym` as perf 6.x prints it (excerpts of a real run of the pool).
SCRIPT = f"""python3.11
\tffffffff81601752 do_wp_page
\tffffffff8160ad68 __handle_mm_fault
\tffffffff82243bb6 exc_page_fault
\tffffffff81000c82 asm_exc_page_fault
\t            8e0f GenericPyCData_new

python3.11
\tffffffff8225219e _raw_write_unlock_irq
\tffffffff81367488 do_exit
\tffffffff81367a29 do_group_exit
\tffffffff81367ad4 __x64_sys_exit_group
\tffffffff8223df91 do_syscall_64

python3.11
\t    7f6b6d959820 _PyEval_EvalFrameDefault
\t    7f6b6d959000 PyEval_EvalCode

python3.11
\tffffffff81366000 copy_page_range
\tffffffff81366100 dup_mmap
\tffffffff81366200 copy_process
\tffffffff81366300 kernel_clone

{HOST[:15]}
\t    7f6b6d959820 _PyEval_EvalFrameDefault

swapper
\tffffffff81000000 pv_native_safe_halt
"""


def test_samples_are_sorted_by_process_and_by_what_they_did() -> None:
    roles, kinds = tally(SCRIPT.splitlines(), "python3.11")
    assert roles == {"fork servers and jobs": 4, "host (this process)": 1, "idle": 1}
    assert kinds == {
        "fault: copy-on-write": 1,
        "exit (address space torn down)": 1,
        "user": 1,
        "fork (address space copied)": 1,
    }


def test_a_fault_is_a_fault_whatever_syscall_or_exit_is_below_it() -> None:
    assert classify(["filemap_map_pages", "asm_exc_page_fault", "do_exit"], True) == (
        "fault: file page mapped"
    )
    assert classify(["exc_page_fault", "asm_exc_page_fault"], True) == (
        "fault: trap, lookup and accounting"
    )
    assert classify(["pipe_write", "__x64_sys_write"], True) == "syscall: write"
    assert classify(["schedule"], True) == "kernel: other"
    assert classify([], False) == "user"
