"""Fork server that runs untrusted solutions inside the sandbox; stdlib only, run as `python -I -S`.

It never sees expected outputs, so nothing a solution does here can forge a pass: it only reports
what the solution produced, and the host judges. A long-lived worker reads job frames on stdin,
forks a fresh child per job (new session, rlimits, unprivileged uid, private temp dir), streams
one result frame per test input back from the child over a private pipe, enforces CPU and wall
time, kills every descendant and answers with one frame on stdout.

Frames, both ways: a 4-byte big-endian length, then a UTF-8 JSON object.
Job: {"id", "code", "inputs": [str], "entry_point", "io_style", "limits": {ExecLimits fields}}.
Answer: {"id", "results": [{"i", "s", "o", "e", "c"}], "exit", "killed", "cpu", "wall"} where
`s` is ok/runtime_error/memory_exceeded/output_limit and `killed` is cpu/wall/output or null.
"""

from __future__ import annotations

import builtins
import contextlib
import errno
import io
import json
import math
import os
import resource
import select
import shutil
import signal
import struct
import sys
import time
import traceback
from typing import Any

_HEADER = struct.Struct(">I")
_RESULT_FD = 3
_FRAME_SLACK = 4096
_PRELOAD = (
    "array bisect cmath collections copy dataclasses datetime decimal enum fractions functools "
    "heapq itertools math operator random re statistics string typing"
)
_write = os.write
_dumps = json.dumps
_process_time = time.process_time
_monotonic = time.monotonic


def _read_exact(fd: int, n: int) -> bytes | None:
    chunks = bytearray()
    while len(chunks) < n:
        chunk = os.read(fd, n - len(chunks))
        if not chunk:
            return None
        chunks += chunk
    return bytes(chunks)


def read_frame(fd: int) -> dict[str, Any] | None:
    """One JSON frame from `fd`, or None at end of file."""
    head = _read_exact(fd, _HEADER.size)
    if head is None:
        return None
    body = _read_exact(fd, _HEADER.unpack(head)[0])
    return None if body is None else json.loads(body)


def write_frame(fd: int, obj: object) -> None:
    """Write one JSON frame to `fd`, looping over short writes."""
    body = _dumps(obj, ensure_ascii=False).encode("utf-8", "replace")
    data = memoryview(_HEADER.pack(len(body)) + body)
    while data:
        data = data[_write(fd, data) :]


def _prctl(option: int, value: int) -> None:
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0)
    except Exception:
        pass


# ---------------------------------------------------------------- child: runs the solution


_pending: list[bytes] = []
_flushed = [0.0]


def _flush() -> None:
    """Write buffered result frames: one wake-up of the worker for many fast tests."""
    data = memoryview(b"".join(_pending))
    _pending.clear()
    _flushed[0] = _monotonic()
    while data:
        data = data[_write(_RESULT_FD, data) :]


def _emit(index: int, status: str, output: str | None, error: str | None, cpu: float) -> None:
    body = {"i": index, "s": status, "o": output, "e": error, "c": round(cpu, 6)}
    raw = _dumps(body, ensure_ascii=False).encode("utf-8", "replace")
    _pending.append(_HEADER.pack(len(raw)) + raw)
    # Slow tests still stream (a later kill keeps earlier results); fast ones go out together.
    if _monotonic() - _flushed[0] > 0.005 or sum(map(len, _pending)) > 1 << 15:
        _flush()


def _describe(exc: BaseException) -> str:
    text = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    return text[-500:]


def _kind(exc: BaseException) -> str:
    if isinstance(exc, MemoryError):
        return "memory_exceeded"
    if isinstance(exc, OSError) and exc.errno == errno.EFBIG:
        return "output_limit"
    return "runtime_error"


def _run_function(job: dict[str, Any], budget: int) -> None:
    inputs = job["inputs"]
    start = _process_time()
    try:
        ns: dict[str, Any] = {"__name__": "__solution__", "__builtins__": builtins}
        exec(compile(job["code"], "solution.py", "exec"), ns)
        fn = ns.get(job["entry_point"])
        if not callable(fn):
            raise NameError(f"entry point {job['entry_point']!r} is not defined")
    except BaseException as exc:
        for i in range(len(inputs)):
            _emit(i, _kind(exc), None, _describe(exc), _process_time() - start)
        return
    for i, raw in enumerate(inputs):
        t0 = _process_time()
        try:
            args = json.loads(raw)
            if not isinstance(args, list):
                raise TypeError("test input is not a JSON array of arguments")
            out = _dumps(fn(*args))
        except BaseException as exc:
            _emit(i, _kind(exc), None, _describe(exc), _process_time() - t0)
            continue
        if len(out) > budget:
            _emit(i, "output_limit", None, f"return value over {budget} bytes", 0.0)
            continue
        budget -= len(out)
        _emit(i, "ok", out, None, _process_time() - t0)


def _run_stdio(job: dict[str, Any], budget: int) -> None:
    try:
        code = compile(job["code"], "solution.py", "exec")
    except BaseException as exc:
        for i in range(len(job["inputs"])):
            _emit(i, "runtime_error", None, _describe(exc), 0.0)
        return
    for i in range(len(job["inputs"])):
        t0 = _process_time()
        fd = os.open(f"stdin{i}", os.O_RDONLY)
        os.dup2(fd, 0)
        os.close(fd)
        fd = os.open(f"stdout{i}", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(fd, 1)
        os.close(fd)
        sys.stdin = open(0, encoding="utf-8", errors="replace", closefd=False)  # noqa: SIM115
        sys.stdout = open(1, "w", encoding="utf-8", errors="replace", closefd=False)  # noqa: SIM115
        sys.argv = ["solution.py"]
        status, error = "ok", None
        try:
            exec(code, {"__name__": "__main__", "__builtins__": builtins})
        except SystemExit as exc:
            if exc.code not in (None, 0):
                status, error = "runtime_error", f"SystemExit: {exc.code!r}"[:500]
        except BaseException as exc:
            status, error = _kind(exc), _describe(exc)
        try:
            sys.stdout.flush()
        except BaseException as exc:
            if status == "ok":
                status, error = _kind(exc), _describe(exc)
        with open(f"stdout{i}", "rb") as fh:
            data = fh.read(budget + 1)
        if len(data) > budget and status == "ok":
            status, error = "output_limit", f"stdout over {budget} bytes in total"
        budget -= min(len(data), budget)
        output = data.decode("utf-8", "replace") if status == "ok" else None
        _emit(i, status, output, error, _process_time() - t0)


def _child(job: dict[str, Any], wfd: int, workdir: str, uid: int) -> None:
    limits = job["limits"]
    os.setsid()
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    devnull = os.open("/dev/null", os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.dup2(wfd, _RESULT_FD)
    os.closerange(_RESULT_FD + 1, 1 << 16)
    # The worker's sys.stdout buffers in memory; a solution's prints must go to /dev/null instead.
    sys.stdout = sys.stderr = open(1, "w", closefd=False)  # noqa: SIM115
    os.chdir(workdir)
    if job["io_style"] == "stdio":
        for i, text in enumerate(job["inputs"]):
            with open(f"stdin{i}", "w", encoding="utf-8") as fh:
                fh.write(text)
    os.environ.clear()
    os.environ.update(PATH="/usr/bin:/bin", HOME=workdir, TMPDIR=workdir, LANG="C.UTF-8")
    cpu = max(1, math.ceil(float(limits["cpu_time_s"])))
    mem = int(limits["memory_mb"]) * 1024 * 1024
    out = int(limits["output_bytes"])
    for res, value in (
        (resource.RLIMIT_CPU, (cpu + 1, cpu + 2)),
        (resource.RLIMIT_AS, (mem, mem)),
        (resource.RLIMIT_FSIZE, (out, out)),
        (resource.RLIMIT_CORE, (0, 0)),
        (resource.RLIMIT_NOFILE, (256, 256)),
        (resource.RLIMIT_NPROC, (int(limits["max_processes"]),) * 2),
    ):
        resource.setrlimit(res, value)
    if uid >= 0:
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)
    _prctl(38, 1)  # PR_SET_NO_NEW_PRIVS
    _flushed[0] = _monotonic()
    if job["io_style"] == "stdio":
        _run_stdio(job, out)
    else:
        _run_function(job, out)
    _flush()


# ---------------------------------------------------------------- worker: supervises children


def _proc_cpu(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            fields = fh.read().rsplit(b")", 1)[1].split()
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
        with open(f"/proc/{pid}/task/{pid}/children") as fh:
            return [int(x) for x in fh.read().split()]
    except OSError:
        return []


def _kill_descendants() -> None:
    """Kill every process left under this worker: a subreaper inherits all orphans."""
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


def _collect(
    pid: int, rfd: int, job: dict[str, Any], seen: list[float]
) -> tuple[list[bytes], str | None]:
    """Read result frames until the child exits or breaks a limit; returns (frames, killed).

    `seen` receives the largest CPU time measured for the solution's process tree.
    """
    limits = job["limits"]
    cpu_limit = float(limits["cpu_time_s"])
    deadline = time.monotonic() + float(limits["wall_time_s"])
    cap = int(limits["output_bytes"]) + _FRAME_SLACK * (len(job["inputs"]) + 1)
    pidfd = os.pidfd_open(pid)
    poller = select.poll()
    poller.register(rfd, select.POLLIN)
    poller.register(pidfd, select.POLLIN)
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


def _split(buf: bytearray) -> list[bytes]:
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


def run_job(job: dict[str, Any], uid: int, tmp: str, seq: int) -> dict[str, Any]:
    """Fork one child for `job`, supervise it and return the answer frame."""
    workdir = os.path.join(tmp, f"run-{os.getpid()}-{seq}")
    os.mkdir(workdir, 0o700)
    if uid >= 0:
        os.chown(workdir, uid, uid)
    rfd, wfd = os.pipe()
    seen = [0.0]
    start = time.monotonic()
    pid = os.fork()
    if pid == 0:
        code = 70
        try:
            os.close(rfd)
            _child(job, wfd, workdir, uid)
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
        shutil.rmtree(workdir, ignore_errors=True)
    results = []
    for raw in frames:
        try:
            results.append(json.loads(raw))
        except ValueError:
            results.append({"bad": raw[:200].decode("utf-8", "replace")})
    return {
        "id": job.get("id"),
        "results": results,
        "exit": os.waitstatus_to_exitcode(status),
        "killed": killed,
        "cpu": max(usage.ru_utime + usage.ru_stime, seen[0]),
        "wall": wall,
        "maxrss_kb": usage.ru_maxrss,
    }


def serve(uid: int, tmp: str) -> None:
    """Answer job frames from stdin until it closes; one child per job."""
    _prctl(36, 1)  # PR_SET_CHILD_SUBREAPER: orphans of a solution come back to us
    _prctl(4, 0)  # PR_SET_DUMPABLE 0: a same-uid solution cannot open /proc/<worker>/fd
    for name in _PRELOAD.split():
        __import__(name)
    import gc

    gc.freeze()
    write_frame(1, {"ready": True, "pid": os.getpid(), "uid": uid, "euid": os.geteuid()})
    seq = 0
    while (job := read_frame(0)) is not None:
        seq += 1
        try:
            answer = run_job(job, uid, tmp, seq)
        except Exception as exc:
            answer = {"id": job.get("id"), "error": f"worker: {type(exc).__name__}: {exc}"}
        write_frame(1, answer)


def _arg(argv: list[str], name: str, default: str) -> str:
    return argv[argv.index(name) + 1] if name in argv else default


def main(argv: list[str]) -> None:
    """`--serve [--uid N|auto] [--tmp DIR]`: run the fork server on stdin/stdout."""
    uid_arg = _arg(argv, "--uid", "auto")
    uid = (40000 if os.geteuid() == 0 else -1) if uid_arg == "auto" else int(uid_arg)
    tmp = _arg(argv, "--tmp", "/tmp")
    os.makedirs(tmp, 0o711, exist_ok=True)
    sys.stdout = io.TextIOWrapper(io.BytesIO())  # stray prints must never reach the host pipe
    serve(uid, tmp)


if __name__ == "__main__":
    main(sys.argv[1:])
