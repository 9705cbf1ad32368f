"""A supervised child process per native engine: its crash is a failed request, not a lost run.

`EngineProcess` starts `python -m stepstones.agents.engine_worker`, loads the engine there and
passes requests over pipes. When the child dies (a segfault, an abort, the OOM killer, SIGKILL)
or stops answering within the request's timeout, the request fails with `EngineCrashed`, a
ConnectionError: the sampling layer retries it as a transient failure, and the next request
starts a fresh child. After `max_crashes` crashes in a row the engine is `EngineUnavailable`
(not retried): the graph then drops that model from the run, loudly.

Calls block; callers run them in a worker thread. One engine serves one request at a time
(both engines are single-stream here); every model object over the same weights shares it.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
from typing import IO, Any

from stepstones.tools.schema import content_hash

LOAD_TIMEOUT_S = 900.0
"""Loading vLLM can take minutes (weights, KV-cache profiling); llama.cpp takes a second."""
MAX_CRASHES = 3
STDERR_TAIL = 1500
"""Bytes of the child's stderr kept for the crash message (faulthandler's stack)."""


class EngineCrashed(ConnectionError):
    """The engine's process died or did not answer in time; retried on a restarted engine."""


class EngineUnavailable(RuntimeError):
    """The engine cannot be started, or crashed `max_crashes` times in a row: not retried."""


class EngineError(RuntimeError):
    """The engine refused one request with an error of its own (e.g. prompt too long)."""


def cpu_flags() -> set[str]:
    """This CPU's feature flags from /proc/cpuinfo (empty where there is none)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def crash_hint(engine: str) -> str:
    """What a crash of this engine most likely means on this machine, and the fix."""
    if engine == "llamacpp" and "amx_tile" in cpu_flags():
        return (
            " This CPU has AMX: llama-cpp-python builds whose AMX path GCC 12 miscompiles "
            "(0.3.36 is one; llama.cpp issue #20824) fault on the first decode. Install the "
            "pinned build: pip cache remove llama_cpp_python; pip install --force-reinstall "
            '--no-cache-dir "llama-cpp-python==0.3.16", or build portably with '
            'CMAKE_ARGS="-DGGML_NATIVE=OFF" (about half the speed).'
        )
    return ""


def _signal_name(code: int | None) -> str:
    if code is None:
        return "no exit status"
    if code < 0:
        try:
            return signal.Signals(-code).name
        except ValueError:
            return f"signal {-code}"
    return f"exit status {code}"


class EngineProcess:
    """One engine in a child process, restarted on demand after a crash."""

    def __init__(
        self,
        spec: dict[str, Any],
        *,
        load_timeout_s: float = LOAD_TIMEOUT_S,
        max_crashes: int = MAX_CRASHES,
        env: dict[str, str] | None = None,
    ) -> None:
        self.spec = spec
        self.name = str(spec.get("engine", "engine"))
        self.load_timeout_s = load_timeout_s
        self.max_crashes = max_crashes
        self.env = env
        self.crashes = 0
        self.starts = 0
        self.last_crash = ""
        self.failed: str | None = None
        """Why the engine cannot load: set once, every later request fails at once with it."""
        self._proc: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None
        self._buf = b""
        self._next_id = 0
        self._lock = threading.Lock()

    @property
    def pid(self) -> int | None:
        """The running child's pid (tests kill it), or None."""
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    def request(
        self, messages: list[dict[str, str]], params: dict[str, Any], timeout_s: float
    ) -> dict[str, Any]:
        """The engine's reply to one chat request; raises EngineCrashed/Unavailable/Error."""
        with self._lock:
            self._ensure_started()
            self._next_id += 1
            frame = {"id": self._next_id, "messages": messages, "params": params}
            try:
                self._write(frame)
                reply = self._read(time.monotonic() + timeout_s, f"within {timeout_s:g}s")
            except EngineCrashed as exc:
                self._crashed(noted=str(exc))
                raise
            if reply.get("id") != self._next_id:
                self._kill()
                raise EngineCrashed(f"{self.name} engine answered out of turn; restarted")
            self.crashes = 0
            if not reply.get("ok"):
                raise EngineError(str(reply.get("error") or "the engine refused the request"))
            return reply

    def close(self) -> None:
        """Stop the child (closing its stdin ends it; a stuck one is killed)."""
        with self._lock:
            self._stop()

    # -- internals (called under the lock) ---------------------------------------------------

    def _ensure_started(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            return
        if self.failed is not None:
            raise EngineUnavailable(self.failed)
        if self._proc is not None:
            self._crashed(noted=f"{self.name} engine process died ({self._exit()})")
        if self.crashes >= self.max_crashes:
            raise EngineUnavailable(
                f"{self.name} engine crashed {self.crashes} times in a row, last: {self.last_crash}"
            )
        self._start()

    def _start(self) -> None:
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the child
        self._buf = b""
        self.starts += 1
        env = {**os.environ, **(self.env or {}), "PYTHONFAULTHANDLER": "1"}
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "stepstones.agents.engine_worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env=env,
            start_new_session=True,
        )  # a Ctrl-C for the run is not a Ctrl-C for the engine
        try:
            self._write(self.spec)
            ready = self._read(
                time.monotonic() + self.load_timeout_s, f"loaded within {self.load_timeout_s:g}s"
            )
        except EngineCrashed as exc:
            self._stop()
            self.failed = f"{self.name} engine could not start: {exc}"
            raise EngineUnavailable(self.failed) from None
        if not ready.get("ok"):
            tail = self._stderr_tail()
            self._stop()
            self.failed = f"{self.name} engine could not load: {ready.get('error')}" + (
                f" (stderr: {tail})" if tail else ""
            )
            raise EngineUnavailable(self.failed)

    def _write(self, frame: dict[str, Any]) -> None:
        assert self._proc is not None and self._proc.stdin is not None
        try:
            self._proc.stdin.write(json.dumps(frame).encode() + b"\n")
            self._proc.stdin.flush()
        except (BrokenPipeError, OSError):
            raise EngineCrashed(self._death_note()) from None

    def _read(self, deadline: float, waited_for: str) -> dict[str, Any]:
        assert self._proc is not None and self._proc.stdout is not None
        fd = self._proc.stdout.fileno()
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                self._kill()
                raise EngineCrashed(f"{self.name} engine did not answer {waited_for}; killed")
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                continue
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                raise EngineCrashed(self._death_note())
            self._buf += chunk
        line, _, self._buf = self._buf.partition(b"\n")
        try:
            reply = json.loads(line)
        except ValueError:
            self._kill()
            raise EngineCrashed(f"{self.name} engine sent an unreadable reply; killed") from None
        if not isinstance(reply, dict):
            self._kill()
            raise EngineCrashed(f"{self.name} engine sent a reply that is not an object")
        return reply

    def _death_note(self) -> str:
        status = self._exit()
        tail = self._stderr_tail()
        note = f"{self.name} engine process died ({status})."
        if tail:
            note += f" Its last words: {tail}."
        if status.startswith("SIG") or status.startswith("signal"):
            note += crash_hint(self.name)
        return note

    def _exit(self) -> str:
        if self._proc is None:
            return "not started"
        try:
            code = self._proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            code = self._proc.wait()
        return _signal_name(code)

    def _stderr_tail(self) -> str:
        if self._stderr is None:
            return ""
        try:
            size = self._stderr.seek(0, os.SEEK_END)
            self._stderr.seek(max(0, size - STDERR_TAIL))
            text = self._stderr.read().decode(errors="replace")
        except (OSError, ValueError):
            return ""
        return " | ".join(line.strip() for line in text.splitlines() if line.strip())[:200]

    def _crashed(self, noted: str = "") -> None:
        self.crashes += 1
        self.last_crash = noted or self._death_note()
        self._stop()

    def _kill(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()

    def _stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.stdin is not None:
                with contextlib.suppress(OSError):
                    proc.stdin.close()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None


_ENGINES: dict[str, EngineProcess] = {}
"""Process-wide on purpose: a model's weights are loaded once per process, whichever runs or
agents use it (two runs of the embedded student must not hold two copies in memory); each
entry is a child process, stopped at exit or by close_engines. Nothing a run produces is here."""
_ENGINES_LOCK = threading.Lock()


def engine_for(spec: dict[str, Any], **options: Any) -> EngineProcess:
    """The process-wide engine for `spec` (one child per weights file and arguments)."""
    key = content_hash(spec)
    with _ENGINES_LOCK:
        if not _ENGINES:
            atexit.register(close_engines)
        if key not in _ENGINES:
            _ENGINES[key] = EngineProcess(spec, **options)
        return _ENGINES[key]


def close_engines() -> None:
    """Stop every engine child (at exit, and between tests)."""
    with _ENGINES_LOCK:
        engines = list(_ENGINES.values())
        _ENGINES.clear()
    for engine in engines:
        engine.close()
