"""The local pool's dispatcher (`LocalSandbox._serve`) with scripted workers: order, retries,
recycling and pipelining, without starting a jail.

Each scripted worker answers its jobs in the order they were sent, as the fork server does; a job
whose code is "crash" breaks the worker while it runs, "recycle" asks for a fresh one.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import deque
from typing import Any

import pytest

from stepstones.tools.sandbox.base import SandboxConfig, Submission
from stepstones.tools.sandbox.local import LocalSandbox, WorkerError
from stepstones.tools.schema import TestCase

TESTS = [TestCase(input="[1, 2]", expected="3")]


class ScriptedWorker:
    """Stands in for `_Worker`: same send/receive/kill surface, answers from the job's code."""

    def __init__(self, delay_s: float = 0.0) -> None:
        self.proc: object | None = None
        self.sent: deque[dict[str, Any]] = deque()
        self.starts = 0
        self.most_held = 0
        self.delay_s = delay_s
        self.lock = threading.Lock()

    room = 1 << 20

    def send(self, frame: bytes) -> str:
        job = json.loads(frame[4:])
        if self.proc is None:
            self.proc = object()
            self.starts += 1
        self.sent.append(job)
        self.most_held = max(self.most_held, len(self.sent))
        return f"nonce-{job['id']}"

    def receive(
        self, job: dict[str, Any], nonce: str, timeout: float, sub: object = None
    ) -> dict[str, Any]:
        head = self.sent.popleft()
        assert head["id"] == job["id"] and nonce == f"nonce-{head['id']}", "answers out of order"
        time.sleep(self.delay_s)
        if head["code"] == "crash":
            raise WorkerError("worker exited (code -9)")
        answer = {
            "id": head["id"],
            "nonce": nonce,
            "exit": 0,
            "killed": None,
            "cpu": 0.0,
            "wall": 0.0,
            "results": [{"i": 0, "s": "ok", "o": "3", "e": None, "c": 0.0}],
        }
        if head["code"] == "recycle":
            self.kill()
        return answer

    def kill(self) -> None:
        self.proc = None
        self.sent.clear()


def box_with(*workers: ScriptedWorker) -> LocalSandbox:
    box = LocalSandbox(SandboxConfig(workers=len(workers), isolation="none", allow_unisolated=True))
    box._all = list(workers)  # type: ignore[assignment]
    return box


def subs(*codes: str) -> list[Submission]:
    return [Submission(code=c, tests=TESTS) for c in codes]


def test_a_job_that_breaks_its_worker_is_retried_once_and_the_rest_still_pass() -> None:
    worker = ScriptedWorker()
    box = box_with(worker)
    try:
        verdicts = box.run_sync(subs("ok", "crash", "ok", "ok"))
    finally:
        box.close()
    assert [v.status for v in verdicts] == ["passed", "sandbox_error", "passed", "passed"]
    assert "failed twice" in (verdicts[1].error or "")
    assert worker.starts == 3  # the first start, then one fresh worker after each crash


def test_jobs_behind_a_recycling_job_are_resent_to_the_fresh_worker() -> None:
    worker = ScriptedWorker()
    box = box_with(worker)
    try:
        verdicts = box.run_sync(subs("ok", "recycle", "ok", "ok", "ok"))
    finally:
        box.close()
    assert all(v.ok for v in verdicts), [v.error for v in verdicts]
    assert worker.starts == 2


def test_a_backlog_keeps_a_second_job_waiting_in_each_worker() -> None:
    """While others wait, the worker holds the next job as it answers one (no round trip on its
    critical path); with nothing waiting, one job at a time, so none queues behind a slow one."""
    busy = ScriptedWorker(delay_s=0.002)
    box = box_with(busy)
    try:
        assert all(v.ok for v in box.run_sync(subs(*["ok"] * 20)))
        assert busy.most_held == 2
        alone = ScriptedWorker()
        box._all = [alone]  # type: ignore[list-item]
        box.close()
        box._all = [alone]  # type: ignore[list-item]
        assert box.judge_one(subs("ok")[0]).ok
        assert alone.most_held == 1
    finally:
        box.close()


def test_a_job_too_large_for_the_pipe_waits_until_the_worker_holds_nothing() -> None:
    """A held job waits in the worker's pipe; one that would not fit there is sent only once
    the worker's jobs are answered (else host and fork server could block on each other), and
    every job is still answered, in order."""
    narrow = ScriptedWorker(delay_s=0.002)
    narrow.room = 600  # a job frame of these submissions is ~400 bytes; "x" * 1000 is more
    codes = ["ok", "x" * 1000, "ok", "ok", "x" * 1000, "ok"] * 3
    held: list[tuple[int, bool]] = []
    real_send = narrow.send

    def send(frame: bytes) -> str:
        held.append((len(narrow.sent), len(frame) > narrow.room))
        return real_send(frame)

    narrow.send = send  # type: ignore[method-assign]
    box = box_with(narrow)
    try:
        verdicts = box.run_sync(subs(*codes))
    finally:
        box.close()
    assert all(v.ok for v in verdicts) and len(verdicts) == len(codes)
    assert narrow.most_held == 2  # the small ones are still held two at a time
    assert all(before == 0 for before, big in held if big), held
    assert any(before == 1 for before, big in held if not big), held


def test_a_cancelled_caller_does_not_stop_the_pool() -> None:
    box = box_with(ScriptedWorker(delay_s=0.01))

    async def main() -> None:
        task = asyncio.ensure_future(box.run(subs(*["ok"] * 10)))
        await asyncio.sleep(0.02)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert all(v.ok for v in await box.run(subs("ok", "ok")))

    try:
        asyncio.run(main())
    finally:
        box.close()
