"""E2B backend: the same protocol, run in E2B cloud sandboxes through e2b-code-interpreter.

The hosted tier refuses sandboxes past ~20 concurrent (429) and drops bursts of creates, so this
backend keeps a pool of live sandboxes and reuses them for every job, never holds more than
`e2b.max_concurrent`, retries creation with jittered exponential backoff and, when no sandbox can
be had at all, returns `sandbox_error` verdicts with a clear reason: infrastructure, never a
student failure. Each remote sandbox runs the same harness fork server as the local backend (as
a subprocess of its kernel), so verdicts mean the same; expected outputs stay on the host.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
from collections.abc import Sequence
from typing import Any

from stepstones.tools.retry import backoff_delay
from stepstones.tools.sandbox.base import SandboxConfig, Submission
from stepstones.tools.sandbox.judge import answer_binding, judge, make_job, sandbox_error, seal
from stepstones.tools.sandbox.local import HARNESS_FILES
from stepstones.tools.schema import Verdict

_SETUP = """
import ctypes as _c, json as _j, os as _o, struct as _s, subprocess as _sp, sys as _y
_o.makedirs('/tmp/stepstones', 0o755, exist_ok=True)
for _n, _t in HARNESS_SOURCES.items():
    with open('/tmp/stepstones/' + _n, 'w') as _f:
        _f.write(_t)
# Non-dumpable: a solution running as this kernel's uid cannot open /proc/<kernel>/fd/* (the
# pipes to the harness) nor read this process's memory.
_c.CDLL(None).prctl(4, 0, 0, 0, 0)
_ss = _sp.Popen([_y.executable, '-I', '-S', '/tmp/stepstones/harness.py', '--serve',
                 '--uid', 'auto', '--tmp', '/tmp/stepstones'],
                stdin=_sp.PIPE, stdout=_sp.PIPE, stderr=_sp.DEVNULL)
def _ss_frame():
    head = _ss.stdout.read(4)
    if len(head) < 4:
        raise RuntimeError('harness exited')
    return _ss.stdout.read(_s.unpack('>I', head)[0]).decode()
def _ss_send(text):
    body = text.encode()
    _ss.stdin.write(_s.pack('>I', len(body)) + body)
def _ss_run(job, seal):
    _ss_send(job)
    _ss_send(seal)
    _ss.stdin.flush()
    return _ss_frame()
print(_ss_frame())
"""


class E2BUnavailable(RuntimeError):
    """E2B cannot be used: no API key or the SDK is not installed."""


class _RemoteError(RuntimeError):
    """A remote sandbox failed to run a job (infrastructure)."""


class E2BSandbox:
    """Runs submissions in a pool of reused E2B sandboxes with bounded concurrency."""

    name = "e2b"
    backoff_base_s = 0.5
    backoff_max_s = 20.0

    def __init__(self, config: SandboxConfig | None = None) -> None:
        self.config = config or SandboxConfig(backend="e2b")
        self.e2b = self.config.e2b
        try:
            from e2b_code_interpreter import AsyncSandbox
        except ImportError as exc:
            raise E2BUnavailable(
                "the e2b backend needs e2b-code-interpreter: pip install 'stepstones[e2b]'"
            ) from exc
        self._cls = AsyncSandbox
        self._api_key = os.environ.get("E2B_API_KEY")
        if not self._api_key:
            raise E2BUnavailable("the e2b backend needs E2B_API_KEY in the environment")
        self._idle: list[Any] = []
        self._live = 0
        self._cap = self.e2b.max_concurrent
        self._exhausted = ""
        self._cond: asyncio.Condition | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ids = itertools.count()
        self.creates = 0
        self.create_failures = 0

    @property
    def isolation(self) -> str:
        """E2B runs each sandbox in its own Firecracker microVM."""
        return "e2b-microvm+rlimits"

    def _bind_loop(self) -> asyncio.Condition:
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._cond is None:
            # Clients are bound to the loop that made them: a new loop starts a new pool.
            self._idle, self._live, self._loop = [], 0, loop
            self._cond = asyncio.Condition()
        return self._cond

    async def _create(self, quick: bool) -> Any:
        """One ready sandbox, with jittered exponential backoff on 429s and dropped creates.

        With `quick` (other sandboxes are live) a 429 ends the attempt at once: the account's
        concurrency limit is reached and the live sandboxes will do.
        """
        last: BaseException | None = None
        attempt = 0
        for attempt in range(self.e2b.max_retries + 1):
            if attempt:
                await asyncio.sleep(
                    backoff_delay(attempt - 1, self.backoff_base_s, self.backoff_max_s)
                )
            box = None
            try:
                self.creates += 1
                box = await self._cls.create(
                    template=self.e2b.template,
                    timeout=self.e2b.sandbox_timeout_s,
                    api_key=self._api_key,
                    request_timeout=self.e2b.request_timeout_s,
                )
                sources = {f.name: f.read_text() for f in HARNESS_FILES}
                setup = _SETUP.replace("HARNESS_SOURCES", repr(sources))
                hello = await self._exec(box, setup, self.e2b.request_timeout_s)
                if not hello.get("ready"):
                    raise _RemoteError(f"harness did not start: {hello!r}")
                return box
            except Exception as exc:
                self.create_failures += 1
                last = exc
                if quick and type(exc).__name__ == "RateLimitException":
                    break
                if box is not None:
                    await self._kill(box)
        raise _RemoteError(
            f"could not get an E2B sandbox after {attempt + 1} attempt(s) "
            f"(quota exhausted or service refusing creates): {type(last).__name__}: {last}"
        )

    async def _exec(self, box: Any, code: str, timeout: float) -> dict[str, Any]:
        execution = await box.run_code(
            code, timeout=timeout, request_timeout=self.e2b.request_timeout_s
        )
        if execution.error is not None:
            raise _RemoteError(f"{execution.error.name}: {execution.error.value}")
        text = "".join(execution.logs.stdout).strip()
        try:
            answer = json.loads(text.splitlines()[-1]) if text else None
        except ValueError as exc:
            raise _RemoteError(f"unreadable harness answer: {text[:200]!r}") from exc
        if not isinstance(answer, dict):
            raise _RemoteError(f"no harness answer: {text[:200]!r}")
        return answer

    async def _kill(self, box: Any) -> None:
        with contextlib.suppress(Exception):
            await box.kill()

    async def _acquire(self, cond: asyncio.Condition) -> Any:
        """An idle pooled sandbox, or a new one while under the cap; waits otherwise."""
        while True:
            async with cond:
                while not self._idle and self._live >= self._cap and not self._exhausted:
                    await cond.wait()
                if self._idle:
                    return self._idle.pop()
                if self._exhausted:
                    raise _RemoteError(self._exhausted)
                self._live += 1
                others = self._live - 1
            try:
                return await self._create(quick=others > 0)
            except _RemoteError as exc:
                async with cond:
                    self._live -= 1
                    if self._live == 0:
                        self._exhausted = str(exc)  # fail the rest of this batch fast
                    else:
                        self._cap = max(1, self._live)  # the service's real limit is lower
                    cond.notify_all()
                    if self._live == 0:
                        raise
            except BaseException:
                async with cond:
                    self._live -= 1
                    cond.notify_all()
                raise

    async def _release(self, cond: asyncio.Condition, box: Any, healthy: bool) -> None:
        if not healthy:
            await self._kill(box)
        async with cond:
            if healthy:
                self._idle.append(box)
            else:
                self._live -= 1
            cond.notify()

    async def _judge_one(self, cond: asyncio.Condition, sub: Submission) -> Verdict:
        job_id = next(self._ids)
        job = json.dumps(make_job(sub, job_id))
        timeout = sub.limits.wall_time_s + 30.0
        error = ""
        for _ in range(2):
            try:
                box = await self._acquire(cond)
            except _RemoteError as exc:
                return sandbox_error(sub, str(exc), self.isolation)
            healthy = False
            nonce, frame = seal()
            try:
                answer = await self._exec(
                    box, f"print(_ss_run({job!r}, {json.dumps(frame)!r}))", timeout
                )
                problem = answer_binding(answer, job_id, nonce)
                if problem:  # a stale or forged answer: this box can no longer be trusted
                    raise _RemoteError(problem)
                healthy = True
                return judge(sub, answer, self.isolation)
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"
            finally:
                await self._release(cond, box, healthy)
        return sandbox_error(sub, f"E2B sandbox failed twice: {error}", self.isolation)

    async def run(self, submissions: Sequence[Submission]) -> list[Verdict]:
        """Judge every submission, at most `e2b.max_concurrent` at once; order is kept."""
        cond = self._bind_loop()
        self._cap, self._exhausted = self.e2b.max_concurrent, ""
        return list(await asyncio.gather(*(self._judge_one(cond, s) for s in submissions)))

    async def aclose(self) -> None:
        """Kill every pooled sandbox."""
        idle, self._idle = self._idle, []
        await asyncio.gather(*(self._kill(box) for box in idle))
        self._live -= len(idle)
