"""Local backend: a pool of pre-forked harness fork-servers, each inside its own bubblewrap jail.

Spawning a fresh interpreter per run costs ~20-30 ms; a fork server that has already imported the
stdlib forks a child per job in about a millisecond, so the pool judges hundreds of runs a second
on two cores. Each worker lives in its own namespaces (no network, its own PID space, a read-only
view of the Python runtime only, a private tmpfs, an empty environment) and runs every solution
as an unprivileged uid of its own with rlimits; the harness kills every descendant after each job.
Expected outputs never leave this process: `judge.judge` compares on the host.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import itertools
import os
import queue
import select
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from stepstones.tools.sandbox.base import SandboxConfig, Submission
from stepstones.tools.sandbox.harness import _HEADER, frame_bytes, write_all, write_frame
from stepstones.tools.sandbox.harness_child import remove_tree
from stepstones.tools.sandbox.judge import (
    answer_binding,
    decided_failure,
    judge,
    make_job,
    sandbox_error,
    seal,
)
from stepstones.tools.schema import Verdict

HARNESS = Path(__file__).with_name("harness.py")
HARNESS_FILES = tuple(HARNESS.with_name(n) for n in ("harness.py", "harness_child.py",
                                                      "harness_check.py"))  # fmt: skip
"""The fork server and the modules it loads from its own directory (stdlib only)."""
_IN_SANDBOX = "/sandbox/harness.py"
_CAPS = ("CAP_SETUID", "CAP_SETGID", "CAP_CHOWN", "CAP_KILL", "CAP_DAC_OVERRIDE", "CAP_FOWNER",
         "CAP_SYS_ADMIN")  # fmt: skip
"""What the (trusted) root worker keeps inside the jail: enough to drop to its uid, clean up and
give each job a fresh /tmp in private mount and IPC namespaces. The solution's uid holds none."""
_WORKER_ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "LD_BIND_NOW": "1"}
"""The fork server's whole environment. LD_BIND_NOW: the dynamic linker resolves every symbol
once, at the worker's start, so no job's child resolves the C functions the worker never called
itself (setresuid, prlimit, ...) and copies the pages it would write them into: 15 fewer page
faults and ~4% less CPU per child. A child's environment is its own (`harness_child._environ`),
so a solution never sees this one."""
_START_TIMEOUT_S = 30.0
_SLACK_S = 5.0
_MAX_ANSWER = 256 * 1024 * 1024
_PIPE_BYTES = 256 * 1024
"""What the worker's job pipe is asked to hold, so that most jobs fit in it whole and can wait
there behind the one running (`_DEPTH`). Not more: the kernel counts a pipe's size against its
user's pipe budget (64 MB by default for unprivileged users) whether it is full or empty."""
_uids = itertools.count(40000 + (os.getpid() % 400) * 64)
_uid_lock = threading.Lock()


class IsolationUnavailable(RuntimeError):
    """No isolation mechanism works here and running unisolated was not allowed."""


class WorkerError(RuntimeError):
    """A harness worker died, hung or broke the protocol (infrastructure, not the solution)."""


def _runtime() -> tuple[str, str]:
    """The interpreter to run inside the jail and the prefix that must be visible to it."""
    exe = os.path.realpath(getattr(sys, "_base_executable", sys.executable))
    return exe, os.path.realpath(sys.base_prefix)


def _bwrap_argv(uid: int, tmp_mb: int) -> list[str]:
    """bwrap command line for one worker: read-only runtime, tmpfs /tmp, nothing else."""
    exe, prefix = _runtime()
    root = os.geteuid() == 0
    # As root we skip the user namespace so the harness can drop to a real unprivileged host uid
    # (a user namespace would map only uid 0); unprivileged users get one implicitly.
    ns = (
        (
            [
                "--unshare-ipc",
                "--unshare-pid",
                "--unshare-net",
                "--unshare-uts",
                "--unshare-cgroup-try",
                "--cap-drop",
                "ALL",
            ]
            + [a for cap in _CAPS for a in ("--cap-add", cap)]
        )
        if root
        else ["--unshare-all"]
    )
    argv = [
        "bwrap",
        *ns,
        "--die-with-parent",
        "--new-session",
        "--clearenv",
        *(a for name, value in _WORKER_ENV.items() for a in ("--setenv", name, value)),
        "--ro-bind",
        "/usr",
        "/usr",
    ]
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64"):
        if os.path.islink(top):
            argv += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            argv += ["--ro-bind", top, top]
    for path in (prefix, os.path.dirname(exe)):
        if path.startswith("/usr/") or path in argv:
            continue
        parents = Path(path).parents
        for parent in reversed([p for p in parents if str(p) != "/"]):
            argv += ["--perms", "0755", "--dir", str(parent)]
        argv += ["--ro-bind", path, path]
    argv += [
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--size",
        str(tmp_mb * 1024 * 1024),
        "--perms",
        "0755",
        "--tmpfs",
        "/tmp",
        *(a for f in HARNESS_FILES for a in ("--ro-bind", str(f), f"/sandbox/{f.name}")),
        "--chdir",
        "/tmp",
        exe,
        "-I",
        "-S",
        _IN_SANDBOX,
        "--serve",
        "--uid",
        str(uid if root else -1),
        "--tmp",
        "/tmp",
        "--own-dev",  # bubblewrap's --dev above: the jail's own tmpfs, not the host's /dev
    ]
    return argv


def _unshare_argv(uid: int, tmp: str) -> list[str]:
    """Fallback without bwrap: new net/pid/ipc/uts/mount namespaces, rlimits and (as root) a uid.

    `--expose` lets the worker make the runtime readable to the solution's uid when it lives
    under a 0700 directory (pyenv in /root), inside the worker's own mount namespace.
    """
    exe, prefix = _runtime()
    root = os.geteuid() == 0
    user = [] if root else ["--user", "--map-root-user"]
    return [
        "unshare",
        *user,
        "--net",
        "--pid",
        "--fork",
        "--mount-proc",
        "--ipc",
        "--uts",
        "--kill-child",
        exe,
        "-I",
        "-S",
        str(HARNESS),
        "--serve",
        "--uid",
        str(uid if root else -1),
        "--tmp",
        tmp,
        "--expose",
        f"{prefix}:{os.path.dirname(exe)}",
    ]


def _private_tmp() -> str:
    """A fresh host temp dir the worker's run dirs go under (traversable by the solution uid)."""
    path = tempfile.mkdtemp(prefix="stepstones-")
    os.chmod(path, 0o711)
    return path


def _probe(argv: list[str]) -> bool:
    try:
        done = subprocess.run(
            argv,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=20,
            env={"PATH": "/usr/bin:/bin"},
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def resolve_isolation(config: SandboxConfig) -> str:
    """Pick bwrap, unshare or none per `config.isolation`; raise if nothing safe is available."""
    want = config.isolation
    if want == "none":
        if not config.allow_unisolated:
            raise IsolationUnavailable(
                "isolation='none' runs untrusted code on the host; set allow_unisolated=True "
                "to do that on purpose"
            )
        return "none"
    if (
        want in ("auto", "bwrap")
        and shutil.which("bwrap")
        and _probe(["bwrap", "--unshare-all", "--ro-bind", "/", "/", "--dev", "/dev", "true"])
    ):
        return "bwrap"
    if (
        want in ("auto", "unshare")
        and shutil.which("unshare")
        and _probe(
            [
                "unshare",
                *([] if os.geteuid() == 0 else ["--user", "--map-root-user"]),
                "--net",
                "--pid",
                "--fork",
                "true",
            ]
        )
    ):
        return "unshare"
    if config.allow_unisolated:
        return "none"
    raise IsolationUnavailable(
        f"no working sandbox isolation (asked for {want!r}): install bubblewrap "
        "(apt-get install bubblewrap) or allow user namespaces; refusing to run untrusted code "
        "unisolated (set allow_unisolated=True to override)"
    )


class _Worker:
    """One harness fork-server process and its framed pipe."""

    def __init__(self, mechanism: str, tmp_mb: int) -> None:
        with _uid_lock:
            self.uid = next(_uids)
        self.mechanism = mechanism
        self.tmp_mb = tmp_mb
        self.proc: subprocess.Popen[bytes] | None = None
        self.stderr: IO[bytes] | None = None
        self.tmp: str | None = None
        self.control = -1  # write end of the pipe that stops a decided job early
        self.room = 0
        """The largest job frame that may wait in the job pipe behind a running job."""

    def _argv(self) -> list[str]:
        if self.mechanism == "bwrap":
            return _bwrap_argv(self.uid, self.tmp_mb)
        self.tmp = _private_tmp()
        if self.mechanism == "unshare":
            return _unshare_argv(self.uid, self.tmp)
        exe, _ = _runtime()
        return [exe, "-I", "-S", str(HARNESS), "--serve", "--uid", "-1", "--tmp", self.tmp]

    def start(self) -> None:
        self.stderr = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the worker
        read_end, self.control = os.pipe()
        try:
            self.proc = subprocess.Popen(
                [*self._argv(), "--control", str(read_end)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=self.stderr,
                env=_WORKER_ENV,
                close_fds=True,
                pass_fds=(read_end,),
            )
        finally:
            os.close(read_end)
        os.set_blocking(self.control, False)  # a stop must never block the judging thread
        assert self.proc.stdin is not None
        self.room = _pipe_room(self.proc.stdin.fileno())
        hello = self._read(time.monotonic() + _START_TIMEOUT_S)
        if not hello.get("ready"):
            raise WorkerError(f"worker did not start: {hello!r}")

    def _tail(self) -> str:
        if self.stderr is None:
            return ""
        self.stderr.seek(0)
        return self.stderr.read()[-800:].decode("utf-8", "replace").strip()

    def _read_exact(self, n: int, deadline: float) -> bytes:
        assert self.proc is not None and self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        buf = bytearray()
        while len(buf) < n:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise WorkerError("worker did not answer in time")
            chunk = os.read(fd, n - len(buf))
            if not chunk:
                code = self.proc.poll()
                raise WorkerError(f"worker exited (code {code}): {self._tail()}")
            buf += chunk
        return bytes(buf)

    def _read(self, deadline: float) -> dict[str, Any]:
        import json

        size = _HEADER.unpack(self._read_exact(_HEADER.size, deadline))[0]
        if size > _MAX_ANSWER:
            raise WorkerError(f"worker frame of {size} bytes")
        try:
            obj = json.loads(self._read_exact(size, deadline))
        except (ValueError, RecursionError, MemoryError) as exc:
            raise WorkerError(f"unreadable worker frame: {type(exc).__name__}") from exc
        if not isinstance(obj, dict):
            raise WorkerError("worker sent a non-object frame")
        return obj

    def send(self, frame: bytes) -> str:
        """Write one job's frame and its seal (starting the worker if needed); returns the
        nonce."""
        if self.proc is None or self.proc.poll() is not None:
            self.start()
        assert self.proc is not None and self.proc.stdin is not None
        nonce, sealed = seal()
        try:
            write_all(self.proc.stdin.fileno(), frame + frame_bytes(sealed))
        except OSError as exc:
            raise WorkerError(f"worker pipe closed: {exc}; {self._tail()}") from exc
        return nonce

    def receive(
        self, job: dict[str, Any], nonce: str, timeout: float, sub: Submission | None = None
    ) -> dict[str, Any]:
        """The answer to the oldest job sent, bound to its id and nonce; a failure leaves the
        worker unusable, and so does an answer that asks for a fresh worker.

        A streamed job's result frames arrive first: the first one that fails `sub` stops the
        job (`decided_failure`). They only decide the stop; the answer is what gets judged.
        """
        deadline = time.monotonic() + timeout
        stopped = False
        while "partial" in (answer := self._read(deadline)):
            if stopped or sub is None or answer.get("id") != job["id"]:
                continue
            partial = answer["partial"]
            if isinstance(partial, dict) and decided_failure(sub, partial):
                stopped = True
                with contextlib.suppress(OSError):  # a dead worker shows in the next read
                    write_frame(self.control, {"stop": job["id"]})
        problem = answer_binding(answer, job["id"], nonce)
        if problem:
            raise WorkerError(problem)
        if answer.get("recycle") is True:
            self.kill()  # a job left state it could not remove: the next job gets a new worker
        return answer

    def kill(self) -> None:
        """Kill the worker; --die-with-parent / the PID namespace take every solution with it."""
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait()
            for pipe in (self.proc.stdin, self.proc.stdout):
                if pipe is not None:
                    pipe.close()
            self.proc = None
        if self.control >= 0:
            os.close(self.control)
            self.control = -1
        if self.stderr is not None:
            self.stderr.close()
            self.stderr = None
        if self.tmp is not None:
            remove_tree(self.tmp)
            self.tmp = None


@dataclass
class _Task:
    sub: Submission
    job: dict[str, Any]
    done: Future[Verdict] = field(default_factory=Future)
    crashes: int = 0
    frame: bytes | None = None


def _pipe_room(fd: int) -> int:
    """Half of what the pipe at `fd` holds, after asking for `_PIPE_BYTES` (the half leaves room
    for the running job's seal and the pipe's partly read pages)."""
    with contextlib.suppress(OSError, AttributeError):  # F_*PIPE_SZ: Linux only
        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, _PIPE_BYTES)
    try:
        return int(fcntl.fcntl(fd, fcntl.F_GETPIPE_SZ)) // 2
    except (OSError, AttributeError):
        return 4096 // 2  # the smallest pipe Linux makes


def _resolve(task: _Task, verdict: Verdict) -> None:
    with contextlib.suppress(InvalidStateError):  # the caller gave up (cancelled) meanwhile
        task.done.set_result(verdict)


_DEPTH = 2
"""Jobs a worker holds at once while a backlog waits: it starts the next job while the host
judges the last answer, so no worker waits on the host (the fork server runs them in order).
A job is held behind another only if its frame fits in the job pipe (`_Worker.room`): the fork
server reads it only once it has written the running job's answer, and the host reads that
answer only once its write of the next job is done, so a job that did not fit would stop
both for ever."""


def default_workers() -> int:
    """One worker more than the cores: each worker is a chain of hand-offs (it forks, waits for
    the child, reads its frames, answers), so one per core left the cores 12% idle in
    bench_sandbox; one more keeps them 94% busy at about the same CPU per verdict
    (docs/sandbox.md). Limits stay fair: they are CPU time; the wall limit, 10 s by default, is
    a backstop at 5x the default CPU limit."""
    return (os.cpu_count() or 1) + 1


class LocalSandbox:
    """Runs submissions in a pool of isolated pre-forked workers on this machine."""

    name = "local"

    def __init__(self, config: SandboxConfig | None = None) -> None:
        self.config = config or SandboxConfig()
        self.mechanism = resolve_isolation(self.config)
        uid = "+uid" if os.geteuid() == 0 and self.mechanism != "none" else ""
        self._isolation = f"{self.mechanism}+rlimits{uid}"
        self.workers = self.config.workers or default_workers()
        tmp_mb = max(64, 2 * self.config.limits.output_bytes // (1024 * 1024) + 64)
        self._all = [_Worker(self.mechanism, tmp_mb) for _ in range(self.workers)]
        self._tasks: queue.SimpleQueue[_Task | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._ids = itertools.count()
        self._lock = threading.Lock()

    @property
    def isolation(self) -> str:
        """The isolation in force, e.g. `bwrap+rlimits+uid`; written into every verdict."""
        return self._isolation

    def _submit(self, sub: Submission) -> Future[Verdict]:
        with self._lock:
            if not self._threads:
                self._threads = [threading.Thread(target=self._serve, args=(w,), daemon=True,
                                                  name=f"sandbox-{n}")
                                 for n, w in enumerate(self._all)]  # fmt: skip
                for thread in self._threads:
                    thread.start()
        task = _Task(sub, make_job(sub, next(self._ids)))
        if sub.stops_early:
            task.job["stream"] = True
        self._tasks.put(task)
        return task.done

    def _serve(self, worker: _Worker) -> None:
        """One thread per worker: send jobs (up to `_DEPTH` while others wait), judge answers.

        A worker that fails (crash, hang, unbound answer) is killed; the job it was running is
        retried once on a fresh one, then judged `sandbox_error`; jobs queued behind it had not
        started and are resent as they were.
        """
        held: deque[tuple[_Task, str]] = deque()
        retry: deque[_Task] = deque()
        while True:
            while len(held) < _DEPTH and (retry or not held
                                          or self._tasks.qsize() >= self.workers):  # fmt: skip
                try:
                    task = retry.popleft() if retry else self._tasks.get(block=not held)
                except queue.Empty:
                    break
                if task is None:
                    self._tasks.put(None)  # stop the other threads too, after their jobs
                    if not held:
                        return
                    break
                if task.done.cancelled():
                    continue
                try:
                    if task.frame is None:
                        task.frame = frame_bytes(task.job)
                    if held and len(task.frame) > worker.room:
                        retry.appendleft(task)  # sent once the worker holds nothing
                        break
                    held.append((task, worker.send(task.frame)))
                except Exception as exc:  # as for `receive` below: never let the thread die
                    self._failed(worker, held, [task], exc, retry)
                    break
            if not held:
                continue
            task, nonce = held[0]
            try:
                answer = worker.receive(
                    task.job, nonce, task.sub.limits.wall_time_s + _SLACK_S, task.sub
                )
            except Exception as exc:
                # Whatever a frame did to the reading (a malformed partial is data from the
                # jail), the worker is failed and its jobs retried: a dead thread would leave
                # their verdicts unresolved and the run waiting on them for ever.
                self._failed(worker, held, [], exc, retry)
                continue
            held.popleft()
            if worker.proc is None:  # recycled after this answer: the rest never started
                retry.extendleft(reversed([t for t, _ in held]))
                held.clear()
            try:
                _resolve(task, judge(task.sub, answer, self._isolation))
            except Exception as exc:  # judge is total; never let a thread die with futures
                _resolve(task, sandbox_error(task.sub, f"judging failed: {exc}", self._isolation))

    def _failed(
        self,
        worker: _Worker,
        held: deque[tuple[_Task, str]],
        unsent: list[_Task],
        exc: Exception,
        retry: deque[_Task],
    ) -> None:
        """Kill a failed worker; the job it was running (the oldest sent, else the one being
        sent) counts a crash and is retried once, the others go back unchanged."""
        worker.kill()
        tasks = [t for t, _ in held] + unsent
        held.clear()
        blamed, rest = tasks[0], tasks[1:]
        blamed.crashes += 1
        if blamed.crashes >= 2:
            _resolve(
                blamed,
                sandbox_error(blamed.sub, f"sandbox worker failed twice: {exc}", self._isolation),
            )
        else:
            rest.insert(0, blamed)
        retry.extendleft(reversed(rest))

    def judge_one(self, sub: Submission) -> Verdict:
        """Run one submission on the pool (blocking); restart and retry once on a crash."""
        return self._submit(sub).result()

    def run_sync(self, submissions: Sequence[Submission]) -> list[Verdict]:
        """Judge every submission in parallel on all workers; order is kept."""
        return [f.result() for f in [self._submit(s) for s in submissions]]

    async def run(self, submissions: Sequence[Submission]) -> list[Verdict]:
        """Judge every submission in parallel on all workers; order is kept."""
        futures = [asyncio.wrap_future(self._submit(s)) for s in submissions]
        return list(await asyncio.gather(*futures))

    def close(self) -> None:
        """Stop the workers (and with them every process a solution left behind)."""
        with self._lock:
            threads, self._threads = self._threads, []
        if threads:
            self._tasks.put(None)
            for thread in threads:
                thread.join()
            self._tasks = queue.SimpleQueue()
        for worker in self._all:
            worker.kill()

    async def aclose(self) -> None:
        """Stop the workers without blocking the event loop."""
        await asyncio.get_running_loop().run_in_executor(None, self.close)

    def __enter__(self) -> LocalSandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
