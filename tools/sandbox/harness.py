"""Fork server that runs untrusted solutions inside the sandbox; stdlib only, run as `python -I -S`.

It never sees expected outputs, so nothing a solution does here can forge a pass: it only reports
what the solution produced, and the host judges. A long-lived worker reads job frames on stdin,
forks a fresh child per job (`harness_child.py`: a fresh tmpfs /tmp and /dev/shm, new
session, rlimits, unprivileged uid), streams one result frame per test input back from the child
over a private pipe, enforces CPU and wall time, kills every descendant and answers with one frame
on stdout.

Frames, both ways: a 4-byte big-endian length, then a UTF-8 JSON object.
Job: {"id", "code", "inputs": [str], "entry_point", "io_style", "limits": {ExecLimits fields},
"check"?: str}, followed by a seal {"nonce": str}. The worker reads the seal only once every
process of the job is dead, so no solution ever shares memory with it, and echoes it:
Answer: {"id", "nonce", "results": [{"i", "s", "o", "e", "c"}], "exit", "killed", "cpu", "wall",
"recycle"} where `s` is ok/runtime_error/memory_exceeded/output_limit, `killed` is cpu/wall/output
or null and `recycle` asks the host for a fresh worker (a job's leftovers could not be removed).
An answer {"id", "nonce", "error"} is an infrastructure failure.

Early stop (`--control FD`, local backend): a job with "stream": true has each cleaned result
frame forwarded as {"id", "partial": {...}} while it runs, so the host can judge it at once; a
frame {"stop": id} on the control pipe naming the running job kills it (`killed` "stopped"). The
host sends one only when a test already failed, so a stop can end a verdict early but never make
it pass; a stop naming any other job is stale and ignored. Expected outputs still never enter.
"""

from __future__ import annotations

import contextlib
import io
import os
import select
import signal
import struct
import sys
import time
from typing import Any

try:
    from . import harness_check, harness_child
except ImportError:  # run as a script inside the sandbox: the siblings are loaded in main()
    harness_check = harness_child = None  # type: ignore[assignment]

_HEADER = struct.Struct(">I")
_FRAME_SLACK = 4096
_MAX_FRAME = 256 * 1024 * 1024
_STATUSES = frozenset({"ok", "runtime_error", "memory_exceeded", "output_limit"})
_PRELOAD = (
    "array bisect cmath collections copy dataclasses datetime decimal enum fractions functools "
    "heapq itertools math operator pickle re string typing"
)
"""Imported once by the fork server, so a solution's imports of these cost it nothing. Not
`random` (nor `statistics`, which imports it): its at-fork hook reseeds in every child, 44
page faults a verdict whether the solution uses it or not; a solution that does imports it
itself, about 1.3 ms (docs/sandbox.md)."""
_write = os.write
_IPC_AT_START: list[frozenset[str]] = [frozenset()]
_QUIET_S = 0.005
"""How long the worker waits on a job's exit alone before it reads the job's frames as they
come (so a streamed partial result can reach the host up to this much later)."""
_STRAY_OUT: list[io.TextIOWrapper] = []
_CONTROL: list[Any] = [-1, bytearray()]
"""The host's control pipe (read end; -1: none) and what of it is read but not yet a frame."""


def _read_exact(fd: int, n: int) -> bytes | None:
    chunks = bytearray()
    while len(chunks) < n:
        chunk = os.read(fd, n - len(chunks))
        if not chunk:
            return None
        chunks += chunk
    return bytes(chunks)


def read_frame(fd: int) -> dict[str, Any] | None:
    """One JSON object frame from `fd`, or None at end of file (or on a frame that is not one)."""
    head = _read_exact(fd, _HEADER.size)
    if head is None:
        return None
    size = _HEADER.unpack(head)[0]
    if size > _MAX_FRAME:
        return None
    body = _read_exact(fd, size)
    if body is None:
        return None
    try:
        obj = harness_child.loads(body)
    except (ValueError, RecursionError, MemoryError):
        return None
    return obj if isinstance(obj, dict) else None


def frame_bytes(obj: object) -> bytes:
    """One JSON frame as it goes on the pipe: the body's length, then the body."""
    body = harness_child.encode(obj).encode("utf-8", "replace")
    return _HEADER.pack(len(body)) + body


def write_all(fd: int, data: bytes) -> None:
    """Write `data` to `fd`, looping over short writes."""
    view = memoryview(data)
    while view:
        view = view[_write(fd, view) :]


def write_frame(fd: int, obj: object) -> None:
    """Write one JSON frame to `fd`."""
    write_all(fd, frame_bytes(obj))


# ---------------------------------------------------------------- worker: supervises children


def _proc_cpu(pid: int) -> float:
    try:
        fields = harness_child.read_proc(f"/proc/{pid}/stat").rsplit(b")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
    return ticks / os.sysconf("SC_CLK_TCK")


def _tree_cpu(pid: int) -> float:
    """CPU seconds of the solution and everything it forked, so a fork bomb cannot hide its cost.

    Inside our own PID namespace (bwrap or unshare make us pid 1 or 2) every process but us and
    init is the solution's; without one, only the direct child can be attributed.
    """
    me = os.getpid()
    if me > 3:
        return _proc_cpu(pid)
    total = 0.0
    for name in os.listdir("/proc"):
        if name.isdigit() and int(name) not in (1, me):
            total += _proc_cpu(int(name))
    return total


def _children() -> list[int]:
    pid = os.getpid()
    try:
        return [int(x) for x in harness_child.read_proc(f"/proc/{pid}/task/{pid}/children").split()]
    except OSError:
        return []


def _kill_descendants() -> None:
    """Kill every process left under this worker: a subreaper inherits all orphans."""
    try:  # no child at all, so no descendant: every orphan of the job is reparented to us
        os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return
    for _ in range(10_000):
        kids = _children()
        if not kids:
            return
        for kid in kids:
            for kill in (os.killpg, os.kill):
                with contextlib.suppress(OSError):
                    kill(kid, signal.SIGKILL)
        for kid in kids:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(kid, 0)


def _stop_asked(job_id: object) -> bool:
    """Read the control pipe; whether the host asked to stop `job_id` (stale stops are dropped)."""
    fd, pending = _CONTROL
    chunk = os.read(fd, 1 << 12)
    if not chunk:  # the host closed its end: never ask again
        _CONTROL[0] = -1
        return False
    pending += chunk
    frames = _split(pending)
    del pending[: sum(_HEADER.size + len(f) for f in frames)]
    stop = False
    for raw in frames:
        try:
            stop = stop or harness_child.loads(raw).get("stop") == job_id
        except (ValueError, AttributeError):
            continue
    return stop


def _collect(
    pid: int, rfd: int, job: dict[str, Any], seen: list[float]
) -> tuple[list[bytes], str | None]:
    """Read result frames until the child exits, breaks a limit or the host stops it; returns
    (frames, killed). With "stream" set, each frame is forwarded to the host as it arrives.

    `seen` receives the largest CPU time measured for the solution's process tree.
    """
    limits = job["limits"]
    cpu_limit = float(limits["cpu_time_s"])
    deadline = time.monotonic() + float(limits["wall_time_s"])
    cap = int(limits["output_bytes"]) + _FRAME_SLACK * (len(job["inputs"]) + 1)
    pidfd = os.pidfd_open(pid)
    poller = select.poll()
    poller.register(pidfd, select.POLLIN)
    # A quiet start: most jobs end within milliseconds, and each wake-up here while the child
    # lives writes pages it shares with us (a copy each). Waiting on its exit alone reads a fast
    # job's frames once, after it; a child that fills the pipe just waits for this to end.
    poller.poll(min(_QUIET_S, float(limits["wall_time_s"])) * 1000)
    poller.register(rfd, select.POLLIN)
    control = _CONTROL[0] if job.get("stream") else -1
    if control >= 0:
        poller.register(control, select.POLLIN)
    forwarded = [0]  # bytes of buf already forwarded as frames
    buf = bytearray()
    cpu_used = 0.0
    checked = time.monotonic()
    try:
        while True:
            now = time.monotonic()
            if now >= deadline:
                return _split(buf), "wall"
            if now - checked >= 0.02:  # a chatty child must not dodge the CPU check
                checked = now
                cpu_used = _tree_cpu(pid)
                if cpu_used >= cpu_limit:
                    return _split(buf), "cpu"
            seen[0] = max(seen[0], cpu_used)
            wait = min(deadline - now, max((cpu_limit - cpu_used) / 2, 0.005), 0.1)
            ready = {fd for fd, _ in poller.poll(wait * 1000)}
            if control >= 0 and control in ready:
                ready.discard(control)  # before `control` can change: the rest assume a child fd
                if _stop_asked(job.get("id")):
                    return _split(buf), "stopped"
                if _CONTROL[0] < 0:
                    poller.unregister(control)
                    control = -1
            if not ready:
                checked = time.monotonic()
                cpu_used = _tree_cpu(pid)
                if cpu_used >= cpu_limit:
                    return _split(buf), "cpu"
                continue
            if rfd in ready:
                chunk = os.read(rfd, 1 << 16)
                if not chunk:
                    return _split(buf), None
                buf += chunk
                if len(buf) > cap:
                    return _split(buf), "output"
                if control >= 0:
                    _forward(job.get("id"), buf, forwarded)
                continue
            os.set_blocking(rfd, False)  # the child exited: drain what it left, then stop
            try:
                while chunk := os.read(rfd, 1 << 16):
                    buf += chunk
                    if len(buf) > cap:
                        return _split(buf), "output"
            except BlockingIOError:
                pass
            return _split(buf), None
    finally:
        os.close(pidfd)


def _forward(job_id: object, buf: bytearray, done: list[int]) -> None:
    """Send the host every complete result frame of `buf` not sent yet, cleaned (setup skipped)."""
    for raw in _split(memoryview(buf)[done[0] :]):
        done[0] += _HEADER.size + len(raw)
        r = _clean(raw)
        if r.get("i", 0) >= 0:
            write_frame(1, {"id": job_id, "partial": r})


def _split(buf: bytearray | memoryview) -> list[bytes]:
    out = []
    view = memoryview(buf)
    pos = 0
    while len(buf) - pos >= _HEADER.size:
        size = _HEADER.unpack_from(buf, pos)[0]
        if len(buf) - pos - _HEADER.size < size:
            break
        out.append(bytes(view[pos + _HEADER.size : pos + _HEADER.size + size]))
        pos += _HEADER.size + size
    return out


def _clean(raw: bytes) -> dict[str, Any]:
    """A child's result frame, checked and rebuilt from scalars, or {"bad": why}.

    The child is the solution's process: its frames can be nested 100000 deep, hold any types or
    not be JSON at all. Rebuilding keeps every answer flat, so re-encoding it can never fail.
    """
    try:
        r = harness_child.loads(raw)
    except (ValueError, RecursionError, MemoryError):
        return {"bad": "undecodable result frame"}
    if not isinstance(r, dict):
        return {"bad": "result frame is not an object"}
    i, s, o, e, c = (r.get(k) for k in "isoec")
    if not (
        type(i) is int and -1 <= i < 1 << 31
        and type(s) is str and (s in _STATUSES or (i == -1 and s == "setup"))
        and (o is None or type(o) is str) and (e is None or type(e) is str)
        and type(c) in (int, float)
    ):  # fmt: skip
        return {"bad": "malformed result frame"}
    cpu = float(c)  # type: ignore[arg-type]  # checked above: an int or a float
    return {"i": i, "s": s, "o": o, "e": None if e is None else e[-500:], "c": cpu}


def run_job(job: dict[str, Any], uid: int, tmp: str, seq: int, fresh: bool) -> dict[str, Any]:
    """Fork one child for `job`, supervise it and return the answer (without id and nonce).

    With `fresh` (the worker is in private namespaces) the job gets a fresh tmpfs /tmp and
    /dev/shm, detached after it with every SysV object it made; otherwise a run dir here. Either
    way, a leftover that could not be removed sets `recycle`: the host starts a fresh worker.
    """
    # Unguessable, so a solution running as the worker's own uid (no uid to drop to) cannot
    # plant the next job's run dir and make its setup fail.
    workdir = None if fresh else os.path.join(tmp, f"run-{seq}-{os.urandom(8).hex()}")
    if workdir is not None:
        os.mkdir(workdir, 0o700)
        if uid >= 0:
            os.chown(workdir, uid, uid)
    elif not harness_child.mount_job_dirs(
        uid, int(job.get("tmp_bytes") or 64 << 20), int(job["limits"]["memory_mb"]) << 20
    ):
        harness_child.release_job_dirs()
        return {"error": "job setup failed: cannot mount a fresh /tmp", "recycle": True}
    rfd, wfd = os.pipe()
    seen = [0.0]
    start = time.monotonic()
    pid = os.fork()
    if pid == 0:
        code = 70
        try:
            os.close(rfd)
            harness_child.child(job, wfd, workdir, uid)
            code = 0
        finally:
            os._exit(code)
    os.close(wfd)
    try:
        frames, killed = _collect(pid, rfd, job, seen)
    finally:
        os.close(rfd)
        with contextlib.suppress(OSError):
            os.killpg(pid, signal.SIGKILL)
        _, status, usage = os.wait4(pid, 0)
        wall = time.monotonic() - start
        _kill_descendants()
    # Every process of the job is dead: nothing can hold its files or objects any more.
    if workdir is None:
        clean, check = harness_child.release_job_dirs()
    else:
        clean, check = harness_child.remove_tree(workdir), True
    recycle = not clean or (check and harness_child.ipc_objects() != _IPC_AT_START[0])
    results = [_clean(raw) for raw in frames]
    exit_code = os.waitstatus_to_exitcode(status)
    if not results or results[0].get("s") != "setup":
        # No solution code ran: the child failed while setting the job up.
        return {"error": f"job setup failed (exit {exit_code}, killed {killed})",
                "recycle": recycle}  # fmt: skip
    return {
        "results": results[1:],
        "exit": exit_code,
        "killed": killed,
        "cpu": max(usage.ru_utime + usage.ru_stime, seen[0]),
        "wall": wall,
        "maxrss_kb": usage.ru_maxrss,
        "recycle": recycle,
    }


def _probe(setup: Any) -> bool:
    """Whether `setup()` succeeds in a forked child (so the worker itself stays unchanged)."""
    pid = os.fork()
    if pid == 0:
        ok = False
        try:
            ok = bool(setup())
        finally:
            os._exit(0 if ok else 1)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0


def serve(uid: int, tmp: str, own_dev: bool = False) -> None:
    """Answer job frames from stdin until it closes; one child per job."""
    harness_child.prctl(36, 1)  # PR_SET_CHILD_SUBREAPER: orphans of a solution come back to us
    harness_child.prctl(4, 0)  # PR_SET_DUMPABLE 0: a solution cannot open /proc/<worker>/fd
    for name in _PRELOAD.split():
        __import__(name)
    fresh = harness_child.private_namespaces() and (
        harness_child.mount_job_dirs(uid, 1 << 20, 1 << 20) & harness_child.release_job_dirs()[0]
    )
    if fresh and own_dev:
        harness_child.move_shm_into_tmp()
    harness_child.prepare_children("/tmp" if fresh else None)
    # Both are inherited by every child, so they hold before any solution code runs and no
    # child pays for them (two ctypes calls were ~90 page faults a verdict). The worker never
    # execs (what no_new_privs governs) and never uses a keyring; the probe tries the filter in
    # a forked child first, so a kernel that refuses it leaves the worker as it was.
    harness_child.prctl(38, 1)  # PR_SET_NO_NEW_PRIVS: seccomp filters need it
    filtered = _probe(harness_child.deny_keyrings) and harness_child.deny_keyrings()
    _IPC_AT_START[0] = harness_child.ipc_objects()
    import gc

    gc.freeze()
    # Hand the allocator's free pages back (~0.9 MB here): every fork copies the page table
    # entries of what the worker has mapped, and every child's exit tears its copy down.
    getattr(harness_child._libc, "malloc_trim", lambda _: 0)(0)
    write_frame(1, {"ready": True, "pid": os.getpid(), "uid": uid, "euid": os.geteuid(),
                    "fresh_namespaces": fresh, "keyrings_denied": filtered})  # fmt: skip
    seq = 0
    while (job := read_frame(0)) is not None:
        seq += 1
        try:
            answer = run_job(job, uid, tmp, seq, fresh)
        except Exception as exc:
            answer = {"error": f"worker: {type(exc).__name__}: {exc}"}
        seal = read_frame(0)  # only now: every process of the job is dead
        if seal is None:
            return
        binding = {"id": job.get("id"), "nonce": seal.get("nonce")}
        try:
            write_frame(1, answer | binding)
        except Exception as exc:  # cannot happen with cleaned results; never die on it
            write_frame(1, {"error": f"worker: unencodable answer: {type(exc).__name__}"}
                        | binding)  # fmt: skip
        if answer.get("recycle"):
            return


def _arg(argv: list[str], name: str, default: str) -> str:
    return argv[argv.index(name) + 1] if name in argv else default


def main(argv: list[str]) -> None:
    """`--serve [--uid N|auto] [--tmp DIR] [--expose PATH:PATH] [--own-dev]`: the fork server
    on stdin/out. `--own-dev`: /dev is the jail's own (bubblewrap's), so /dev/shm may change."""
    global harness_child, harness_check
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.append(here)
    import harness_check as check_module  # type: ignore[import-not-found,unused-ignore]
    import harness_child as child_module  # type: ignore[import-not-found,unused-ignore]

    sys.path.remove(here)  # nothing may later import from a directory a job could write to
    harness_child, harness_check = child_module, check_module
    _CONTROL[0] = int(_arg(argv, "--control", "-1"))
    uid_arg = _arg(argv, "--uid", "auto")
    uid = (40000 if os.geteuid() == 0 else -1) if uid_arg == "auto" else int(uid_arg)
    tmp = _arg(argv, "--tmp", "/tmp")
    os.makedirs(tmp, 0o711, exist_ok=True)
    if "--expose" in argv and os.geteuid() == 0 and uid >= 0:
        harness_child.expose_runtime(_arg(argv, "--expose", "").split(":"))
    # Stray prints must never reach the host pipe. Held here too: a child replaces sys.stdout,
    # and were this its last reference, every child would finalise it (55 page faults each).
    _STRAY_OUT.append(io.TextIOWrapper(io.BytesIO()))
    sys.stdout = _STRAY_OUT[0]
    serve(uid, tmp, own_dev="--own-dev" in argv)


if __name__ == "__main__":
    main(sys.argv[1:])
