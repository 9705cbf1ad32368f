"""Engines for the engine child process (`agents/engine_worker.py`) that fail on purpose.

Loaded in the child by `module:callable` name; test-only, never shipped. Each answers with a
fixed code block, and on the request numbers it is told to, dies the way native code dies.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import time
from pathlib import Path
from typing import Any

REPLY = "```python\ndef solve(*args):\n    return None\n```"


class FaultyEngine:
    """Answers REPLY; on request numbers in `faults` it segfaults, aborts, hangs or raises.

    `counter` is a file shared by every child of one test, so a restarted engine keeps
    counting where the crashed one stopped.
    """

    def __init__(
        self,
        model_path: str,
        counter: str,
        faults: dict[str, str] | None = None,
        reply: str = REPLY,
    ) -> None:
        self.counter = Path(counter)
        self.faults = {int(k): v for k, v in (faults or {}).items()}
        self.reply = reply

    def _next(self) -> int:
        n = int(self.counter.read_text() or 0) + 1 if self.counter.exists() else 1
        self.counter.write_text(str(n))
        return n

    def chat(self, messages: list[dict[str, str]], params: dict[str, Any]) -> dict[str, Any]:
        fault = self.faults.get(self._next())
        if fault == "segv":
            ctypes.string_at(0)  # a real invalid read: SIGSEGV from native code
        elif fault == "abort":
            os.abort()
        elif fault == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        elif fault == "hang":
            time.sleep(3600)
        elif fault == "raise":
            raise ValueError("prompt too long")
        n = int(params.get("n") or 1)
        return {
            "choices": [{"text": self.reply, "finish_reason": "stop", "completion_tokens": 7}] * n,
            "prompt_tokens": sum(len(m["content"].split()) for m in messages),
        }


def always_segv(model_path: str, **kwargs: Any) -> FaultyEngine:
    """An engine that segfaults on every request (a known-bad native build)."""
    counter = kwargs.pop("counter")
    return FaultyEngine(model_path, counter, {str(i): "segv" for i in range(1, 100)})


def fails_to_load(model_path: str, **kwargs: Any) -> FaultyEngine:
    """An engine whose load raises (a missing file, an unsupported architecture)."""
    raise RuntimeError(f"cannot load {model_path}: unknown model architecture")


class EchoEngine:
    """Answers with what it was sent, as JSON, and its pid: the request's path made visible."""

    def __init__(self, model_path: str) -> None:
        self.model_path = model_path

    def chat(self, messages: list[dict[str, str]], params: dict[str, Any]) -> dict[str, Any]:
        text = json.dumps({"messages": messages, "params": params, "pid": os.getpid()})
        return {
            "choices": [{"text": text, "finish_reason": "stop", "completion_tokens": 5}]
            * int(params.get("n") or 1),
            "prompt_tokens": 1,
        }
