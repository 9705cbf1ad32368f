"""Check-style jobs (HumanEval's assert tests): the trusted check and the solution, apart.

A check-style test has no secret expected output: success is "check(candidate) returned". Run in
one process, a solution could end that process early with status 0 (`sys.exit`, `os._exit`, an
`atexit` or `__del__` hook, a thread) or call the harness's own reporting code, and an exit-code
or absence-of-failure harness would count that as a pass. So the check runs here, in the job's
child process, which alone holds the result fd; the solution runs in a grandchild with no result
fd, and `candidate(*args)` is a call over a pipe pair. This process is made non-dumpable first, so
the solution (same uid or not) can neither open its fds nor read its memory. The only success
frame is the one written after `check` returns; an exit, a crash or a kill of either process
before that leaves the test without a result, which the host judges runtime_error.

Replies are unpickled with an allow-list of plain data types, so a solution's return value can
never run code or carry a custom `__eq__` into the check.
"""

from __future__ import annotations

import builtins
import io
import os
import pickle
import struct
import sys
from typing import Any

try:
    from . import harness_child as hc
except ImportError:  # loaded from a path inside the sandbox, not as a package
    import harness_child as hc  # type: ignore[no-redef]

_LEN = struct.Struct(">I")
_SAFE = {
    "builtins": {"set", "frozenset", "complex", "bytearray", "range", "slice", "int", "float",
                 "str", "bytes", "list", "tuple", "dict", "bool"},
    "collections": {"OrderedDict", "Counter", "defaultdict", "deque"},
}  # fmt: skip


class SolutionGone(BaseException):
    """The solution's process ended or broke the call protocol before the check finished.

    A BaseException, like SystemExit, so a check's `except Exception` cannot swallow it.
    """


class CandidateError(Exception):
    """The candidate raised an exception type that is not a builtin one."""


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if name in _SAFE.get(module, ()):
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"{module}.{name} is not plain data")


def _send(fd: int, data: bytes) -> None:
    view = memoryview(_LEN.pack(len(data)) + data)
    while view:
        view = view[os.write(fd, view) :]


def _recv(fd: int, cap: int) -> bytes | None:
    head = _exact(fd, _LEN.size)
    if head is None:
        return None
    size = _LEN.unpack(head)[0]
    if size > cap:
        raise OSError(27, "reply over the output limit")  # EFBIG: output_limit
    return _exact(fd, size)


def _exact(fd: int, n: int) -> bytes | None:
    buf = bytearray()
    while len(buf) < n:
        chunk = os.read(fd, n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return bytes(buf)


class _Candidate:
    """What the check calls: forwards each call to the solution process, returns its answer."""

    def __init__(self, req: int, resp: int, budget: int) -> None:
        self.req, self.resp, self.budget = req, resp, budget

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            _send(self.req, pickle.dumps((args, kwargs), protocol=4))
            raw = _recv(self.resp, self.budget)
        except BrokenPipeError:
            raise SolutionGone("the solution's process ended during a call") from None
        if raw is None:
            raise SolutionGone("the solution's process ended during a call")
        self.budget -= len(raw)
        try:
            reply = _Unpickler(io.BytesIO(raw)).load()
            tag, value = reply
        except Exception as exc:
            raise SolutionGone(f"unreadable answer from the solution: {exc}"[:300]) from None
        if tag == "ok":
            return value
        if tag == "raise" and isinstance(value, tuple) and len(value) == 2:
            name, text = str(value[0]), str(value[1])[:300]
            kind = getattr(builtins, name, None)
            if isinstance(kind, type) and issubclass(kind, Exception):
                raise kind(text)
            raise SolutionGone(f"{name}: {text}")  # SystemExit, KeyboardInterrupt, ... end it
        raise SolutionGone("malformed answer from the solution")


def _serve_solution(job: dict[str, Any], req: int, resp: int) -> None:
    """The solution's process: define the entry point, then answer calls until the pipe ends."""
    ns: dict[str, Any] = {"__name__": "__solution__", "__builtins__": builtins}
    failure: tuple[str, str] | None = None
    fn: Any = None
    try:
        exec(compile(job["code"], "solution.py", "exec"), ns)
        fn = ns.get(job["entry_point"])
        if not callable(fn):
            failure = ("NameError", f"entry point {job['entry_point']!r} is not defined")
    except BaseException as exc:
        failure = (type(exc).__name__, hc.describe(exc))
    while (raw := _recv(req, 1 << 30)) is not None:
        try:
            if failure is not None:
                raise RuntimeError(failure[1])
            args, kwargs = pickle.loads(raw)
            out = pickle.dumps(("ok", fn(*args, **kwargs)), protocol=4)
        except BaseException as exc:
            name = failure[0] if failure is not None else type(exc).__name__
            out = pickle.dumps(("raise", (name, hc.describe(exc))), protocol=4)
        _send(resp, out)


def run_check(job: dict[str, Any], budget: int) -> None:
    """One test: emit ok with output `null` once `check(candidate)` returns, else why not."""
    req_r, req_w = os.pipe()
    resp_r, resp_w = os.pipe()
    hc.prctl(4, 0)  # PR_SET_DUMPABLE 0, before the solution's process exists
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            for fd in (hc.RESULT_FD, req_w, resp_r):
                os.close(fd)
            _serve_solution(job, req_r, resp_w)
        except BaseException:
            code = 1
        finally:
            os._exit(code)
    os.close(req_r)
    os.close(resp_w)
    t0 = hc._process_time()
    status: str = "ok"
    output: str | None = "null"
    error: str | None = None
    try:
        ns: dict[str, Any] = {"__name__": "__check__", "__builtins__": builtins}
        exec(compile(job["check"], "check.py", "exec"), ns)
        candidate = _Candidate(req_w, resp_r, budget)
        ns[job["entry_point"]] = candidate  # tests may call the function by name, as in HumanEval
        ns["check"](candidate)
    except AssertionError as exc:
        output, error = "false", hc.describe(exc) or "AssertionError"
    except BaseException as exc:
        status, output, error = hc.kind(exc), None, hc.describe(exc)
    hc.emit(0, status, output, error, hc._process_time() - t0)
    hc.flush()
    os.close(req_w)
    sys.stdout.flush()
