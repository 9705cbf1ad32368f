"""The child process that runs a native inference engine (llama.cpp, vLLM) for stepstones.

Native engines can die in ways Python cannot catch: llama-cpp-python built with GCC 12 faults on
its first decode on Intel CPUs with AMX (docs/models.md), and an engine can abort or be killed
for memory. Run in the process that holds the graph, such a crash loses the whole run; run here,
it costs one request, which the parent (`engine_process.EngineProcess`) reports as an
infrastructure failure and retries on a restarted child.

Started as `python -m stepstones.agents.engine_worker`; speaks JSON lines. The first line read
names the engine and its arguments; the reply is `{"ok": true}` once it is loaded (or the load
error). Then one reply per request, in order. Only this module and the engine are imported.
"""

from __future__ import annotations

import faulthandler
import importlib
import json
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, BinaryIO, Protocol


class Engine(Protocol):
    """One loaded model: a chat request in, choices and token counts out."""

    def chat(self, messages: list[dict[str, str]], params: dict[str, Any]) -> dict[str, Any]:
        """`{"choices": [{"text", "finish_reason", "completion_tokens"}], "prompt_tokens"}`."""
        ...


class LlamaCppEngine:
    """A GGUF model through llama-cpp-python; one choice per request."""

    def __init__(self, model_path: str, n_ctx: int = 4096, n_threads: int | None = None) -> None:
        from llama_cpp import Llama

        self.llm = Llama(model_path=model_path, n_ctx=n_ctx, n_threads=n_threads, verbose=False)

    def chat(self, messages: list[dict[str, str]], params: dict[str, Any]) -> dict[str, Any]:
        """One completion; `seed`, `temperature`, `max_tokens`, `stop` as llama.cpp takes them."""
        reply: Any = self.llm.create_chat_completion(
            messages=messages,  # type: ignore[arg-type,unused-ignore]  # llama_cpp TypedDicts
            seed=params.get("seed"),
            temperature=params.get("temperature", 0.7),
            max_tokens=params.get("max_tokens", 1024),
            stop=params.get("stop") or None,
        )
        usage = reply.get("usage") or {}
        choice = reply["choices"][0]
        return {
            "choices": [
                {
                    "text": choice["message"].get("content") or "",
                    "finish_reason": choice.get("finish_reason"),
                    "completion_tokens": int(usage.get("completion_tokens", 0) or 0),
                }
            ],
            "prompt_tokens": int(usage.get("prompt_tokens", 0) or 0),
        }


class VLLMEngine:
    """vLLM's offline engine (`vllm.LLM`); honours `n` with one prefill."""

    def __init__(self, model_path: str, **engine_kwargs: Any) -> None:
        from vllm import LLM

        self.llm = LLM(model=model_path, **engine_kwargs)

    def chat(self, messages: list[dict[str, str]], params: dict[str, Any]) -> dict[str, Any]:
        """n choices of one prompt; each choice counts its own completion tokens."""
        from vllm import SamplingParams

        sampling = SamplingParams(
            n=int(params.get("n") or 1),
            temperature=params.get("temperature", 0.7),
            max_tokens=params.get("max_tokens", 1024),
            stop=params.get("stop") or None,
        )
        (output,) = self.llm.chat(messages, sampling_params=sampling, use_tqdm=False)
        return {
            "choices": [
                {
                    "text": c.text,
                    "finish_reason": c.finish_reason,
                    "completion_tokens": len(c.token_ids),
                }
                for c in output.outputs
            ],
            "prompt_tokens": len(output.prompt_token_ids or []),
        }


ENGINES: dict[str, Callable[..., Engine]] = {"llamacpp": LlamaCppEngine, "vllm": VLLMEngine}


def load(spec: dict[str, Any]) -> Engine:
    """The engine a spec names: a key of ENGINES, or `module:callable` (tests bring their own)."""
    name = str(spec["engine"])
    if name in ENGINES:
        factory = ENGINES[name]
    else:
        module, _, attr = name.partition(":")
        factory = getattr(importlib.import_module(module), attr)
    return factory(**dict(spec.get("kwargs") or {}))


def _die_with_parent(poll_s: float = 0.5) -> None:
    """Exit when the run that started this process is gone (a kill -9 of the run).

    Polled, not PR_SET_PDEATHSIG: the kernel sends that signal when the parent *thread* exits,
    and LangChain's async path starts the engine from an executor thread that may end long
    before the run does (measured: the child was killed between two calls of one test)."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll_s)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _streams() -> tuple[BinaryIO, BinaryIO]:
    """Frames go on a private copy of stdout; fd 1 then points at stderr, so text that native
    code prints can never be read as a reply."""
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    return os.fdopen(0, "rb"), out


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {' '.join(str(exc).split())}"[:500]


def serve(reader: BinaryIO, writer: BinaryIO) -> int:
    """Load the engine named by the first line, then answer requests until stdin closes."""

    def send(frame: dict[str, Any]) -> None:
        writer.write(json.dumps(frame).encode() + b"\n")
        writer.flush()

    first = reader.readline()
    if not first:
        return 0
    try:
        engine = load(json.loads(first))
    except BaseException as exc:  # any load failure is reported, then the child exits
        send({"ok": False, "error": _describe(exc)})
        return 1
    send({"ok": True, "pid": os.getpid()})
    for line in reader:
        request = json.loads(line)
        try:
            result = engine.chat(request["messages"], dict(request.get("params") or {}))
        except Exception as exc:
            send({"id": request.get("id"), "ok": False, "error": _describe(exc)})
            continue
        send({"id": request.get("id"), "ok": True, **result})
    return 0


def main() -> int:
    """Entry point of the child process."""
    faulthandler.enable()  # a native fault prints its Python stack on stderr for the parent
    _die_with_parent()
    reader, writer = _streams()
    return serve(reader, writer)


if __name__ == "__main__":
    sys.exit(main())
