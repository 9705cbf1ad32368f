"""A small OpenAI-compatible chat server on loopback: the benchmarks' endpoint, and the tests'.

It ships in the package, under evals/, because the benchmarks (`python -m
stepstones.evals.bench_concurrency`) run from an install and drive the real client path against
it; it holds no test logic (no scripted assertions), only a configurable endpoint.

It answers `POST /v1/chat/completions` after an injected latency, honours `n` or (like the
llama.cpp server) ignores it, and can fail or stall chosen requests, so the real client path
(ChatOpenAI -> openai SDK -> httpx -> HTTP) is exercised without a model or a network. It counts
requests and the most requests ever in flight, which is what the concurrency bound is about
(`GET /stats` reads them from another process, `POST /stats` reads and resets).
Stdlib only (asyncio streams, HTTP/1.1 keep-alive), so tests need nothing beyond the package.

With `engine=EngineModel(...)` it behaves like a vLLM server instead of sleeping a fixed time
(evals/engine_model.py): each choice is one sequence, as vLLM fans a request with `n` out into
n sequences; at most `cap` sequences run and the others wait in one FIFO queue; a running one
takes prefill + output tokens / decode rate. `/stats` then also reports how busy the engine
was (`EngineStats`), which is what the end-to-end benchmark measures.

    with OpenAIStandin(latency_s=1.0) as server:
        model = get_chat_model(f"vllm:standin@{server.base_url}")

    python -m stepstones.evals.openai_standin --port 8000 --latency 1
    python -m stepstones.evals.openai_standin --port 8000 --cap 16 --decode-tps 60
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import deque
from collections.abc import Callable, Sequence
from http import HTTPStatus
from types import TracebackType
from typing import Any, cast

from stepstones.evals.engine_model import Engine, EngineModel, estimate_tokens

Reply = str | Callable[[dict[str, Any], int], str]
"""A fixed reply (`{i}` becomes the choice index) or a function of (request body, index)."""


class OpenAIStandin:
    """An OpenAI-compatible stand-in server running its own event loop in a daemon thread."""

    def __init__(
        self,
        *,
        latency_s: float = 0.0,
        honour_n: bool = True,
        reply: Reply = "stand-in reply {i}",
        host: str = "127.0.0.1",
        port: int = 0,
        engine: EngineModel | None = None,
    ) -> None:
        self.latency_s = latency_s
        self.honour_n = honour_n
        self.reply = reply
        self.host = host
        self.port = port
        self.fail_next: deque[int] = deque()
        """HTTP statuses for the next requests, one each (e.g. 429, 500; 200 answers normally)."""
        self.delay_next: deque[float] = deque()
        """Latency overrides for the next requests (a long one makes a client time out)."""
        self.requests: list[dict[str, Any]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._handlers: set[asyncio.Task[None]] = set()
        self._epoch = 0
        self.engine = Engine(engine) if engine is not None else None
        """The vLLM-like scheduler; None: every request sleeps `latency_s` (or its override)."""

    @property
    def base_url(self) -> str:
        """The OpenAI base URL clients use: http://HOST:PORT/v1."""
        return f"http://{self.host}:{self.port}/v1"

    def reset(self) -> None:
        """Forget counted requests and pending failures (between test cases or bench rounds)."""
        self.fail_next.clear()
        self.delay_next.clear()
        self.requests.clear()
        self.in_flight = 0
        self.max_in_flight = 0
        self._epoch += 1  # requests still stalled from before no longer count as in flight
        if self.engine is not None:
            self.engine.reset_stats()

    def _text(self, body: dict[str, Any], i: int) -> str:
        if callable(self.reply):
            return self.reply(body, i)
        return self.reply.replace("{i}", str(i))

    def _completion(self, body: dict[str, Any]) -> dict[str, Any]:
        n = int(body.get("n") or 1) if self.honour_n else 1
        texts = [self._text(body, i) for i in range(n)]
        prompt = _prompt_text(body)
        return {
            "id": f"chatcmpl-standin-{len(self.requests)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "standin"),
            "choices": [
                {
                    "index": i,
                    "message": {"role": "assistant", "content": t},
                    "finish_reason": "stop",
                }
                for i, t in enumerate(texts)
            ],
            "usage": {
                "prompt_tokens": len(prompt.split()),
                "completion_tokens": sum(len(t.split()) for t in texts),
                "total_tokens": len(prompt.split()) + sum(len(t.split()) for t in texts),
            },
        }

    async def _respond(self, method: str, path: str, raw: bytes) -> tuple[int, dict[str, Any]]:
        if method == "GET" and path.rstrip("/").endswith("/models"):
            return 200, {"object": "list", "data": [{"id": "standin", "object": "model"}]}
        if path.rstrip("/") == "/stats":  # for a benchmark running the server as a process
            stats: dict[str, Any] = {
                "requests": len(self.requests),
                "max_in_flight": self.max_in_flight,
            }
            if self.engine is not None:
                stats["engine"] = self.engine.stats().model_dump()
            if method == "POST":
                self.reset()
            return 200, stats
        if method != "POST" or not path.rstrip("/").endswith("/chat/completions"):
            return 404, {"error": {"message": f"no route {method} {path}", "type": "not_found"}}
        try:
            body = cast("dict[str, Any]", json.loads(raw or b"{}"))
        except ValueError:
            return 400, {"error": {"message": "body is not JSON", "type": "invalid_request"}}
        if self.engine is not None:
            return await self._respond_engine(body, self.engine)
        self.requests.append(body)
        epoch = self._epoch
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            delay = self.delay_next.popleft() if self.delay_next else self.latency_s
            await asyncio.sleep(delay)
            status = self.fail_next.popleft() if self.fail_next else HTTPStatus.OK
            if status != HTTPStatus.OK:
                message = f"injected {status} {HTTPStatus(status).phrase}"
                return status, {"error": {"message": message, "type": "standin", "code": status}}
            if body.get("stream"):
                return 400, {"error": {"message": "streaming is not supported", "type": "x"}}
            return 200, self._completion(body)
        finally:
            if epoch == self._epoch:
                self.in_flight -= 1

    async def _respond_engine(self, body: dict[str, Any], engine: Engine) -> tuple[int, Any]:
        """Like vLLM: every choice a sequence through the engine's FIFO queue and slots; the
        reply returns when its last sequence is done. Tokens are estimated (no tokenizer)."""
        if body.get("stream"):
            return 400, {"error": {"message": "streaming is not supported", "type": "x"}}
        self.requests.append(body)
        epoch = self._epoch
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            n = max(1, int(body.get("n") or 1))
            limit = int(body.get("max_tokens") or body.get("max_completion_tokens") or 1 << 30)
            prompt_tokens = estimate_tokens(_prompt_text(body))
            texts, finish = [], []
            for i in range(n):
                text = self._text(body, i)
                if estimate_tokens(text) > limit:  # vLLM stops at max_tokens
                    text, reason = text[: limit * 4], "length"
                else:
                    reason = "stop"
                texts.append(text)
                finish.append(reason)
            outputs = [estimate_tokens(t) for t in texts]
            await engine.serve(prompt_tokens, outputs)
            return 200, {
                "id": f"chatcmpl-standin-{len(self.requests)}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model", "standin"),
                "choices": [
                    {
                        "index": i,
                        "message": {"role": "assistant", "content": t},
                        "finish_reason": finish[i],
                    }
                    for i, t in enumerate(texts)
                ],
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": sum(outputs),
                    "total_tokens": prompt_tokens + sum(outputs),
                },
            }
        finally:
            if epoch == self._epoch:
                self.in_flight -= 1

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    name, sep, value = line.partition(":")
                    if sep:
                        headers[name.strip().lower()] = value.strip()
                raw = await reader.readexactly(int(headers.get("content-length", "0")))
                status, payload = await self._respond(method, path, raw)
                data = json.dumps(payload).encode()
                close = headers.get("connection", "").lower() == "close"
                writer.write(
                    f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n"
                    "Content-Type: application/json\r\n"
                    f"Content-Length: {len(data)}\r\n"
                    f"Connection: {'close' if close else 'keep-alive'}\r\n\r\n".encode()
                    + data
                )
                await writer.drain()
                if close:
                    break
        except (asyncio.IncompleteReadError, ConnectionError, ValueError):
            pass  # client went away (a timed-out request, or the end of a keep-alive)
        except asyncio.CancelledError:
            pass  # stop(): ending normally spares Python 3.11's stream callback a traceback
        finally:
            writer.close()
            if task is not None:
                self._handlers.discard(task)

    async def serve(self) -> None:
        """Listen on (host, port) until cancelled (port 0 picks a free port)."""
        self._server = await asyncio.start_server(self._handle, self.host, self.port, backlog=512)
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        async with self._server:
            await self._server.serve_forever()

    def start(self) -> OpenAIStandin:
        """Serve from a daemon thread; returns once the port is bound."""

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            try:
                self._loop.run_until_complete(self.serve())
            except asyncio.CancelledError:
                pass
            finally:
                self._loop.close()

        self._thread = threading.Thread(target=run, name="openai-standin", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the stand-in server did not start")
        return self

    async def _shutdown(self) -> None:
        for task in list(self._handlers):
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        if self._server is not None:
            self._server.close()  # ends serve(), and with it the thread's loop

    def stop(self) -> None:
        """Stop serving, drop open connections and join the thread."""
        if self._loop is not None and self._loop.is_running():
            asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop)
        if self._thread is not None:
            self._thread.join(10)

    def __enter__(self) -> OpenAIStandin:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _prompt_text(body: dict[str, Any]) -> str:
    return " ".join(str(m.get("content", "")) for m in body.get("messages", []))


def load_reply(path: str) -> Reply:
    """The reply function named `module:function` (for a server run as its own process)."""
    module, sep, name = path.partition(":")
    if not sep:
        raise ValueError(f"--reply wants module:function, got {path!r}")
    fn = getattr(importlib.import_module(module), name)
    if not callable(fn):
        raise ValueError(f"{path} is not callable")
    return cast("Reply", fn)


def free_port() -> int:
    """A TCP port free on loopback right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def read_stats(base: str, reset: bool = False) -> dict[str, Any]:
    """The stand-in's `/stats` at `base` (POST: read, then start a new window)."""
    req = urllib.request.Request(f"{base}/stats", method="POST" if reset else "GET")
    with urllib.request.urlopen(req, timeout=10) as resp:
        return cast("dict[str, Any]", json.loads(resp.read()))


def spawn(args: Sequence[str], *, timeout_s: float = 30) -> tuple[subprocess.Popen[bytes], str]:
    """This server in a child process (so it does not share the caller's GIL) on a free
    loopback port, with `args` after `--port`; returned once it answers `/stats`."""
    port = free_port()
    cmd = [sys.executable, "-m", "stepstones.evals.openai_standin", "--port", str(port), *args]
    # stderr to a file, not a pipe: a pipe nobody reads would stall the server once it filled.
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                read_stats(base)
                return proc, base
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    proc.kill()
                    proc.wait()
                    log.seek(0)
                    err = log.read().decode(errors="replace")[-2000:]
                    raise RuntimeError(f"the stand-in server did not start: {err}") from None
                time.sleep(0.1)


def main() -> None:
    """Run a stand-in server in the foreground."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per request")
    parser.add_argument("--ignore-n", action="store_true", help="return one choice, like llama.cpp")
    parser.add_argument(
        "--cap",
        type=int,
        default=None,
        help="behave like vLLM: at most CAP sequences run (each choice of `n` is one), the "
        "others queue FIFO; --latency is then unused",
    )
    parser.add_argument(
        "--prefill-tps", type=float, default=5000.0, help="with --cap: prompt tokens/s"
    )
    parser.add_argument(
        "--decode-tps", type=float, default=60.0, help="with --cap: output tokens/s per sequence"
    )
    parser.add_argument("--reply", default=None, help="module:function building each choice")
    args = parser.parse_args()
    engine = (
        EngineModel(cap=args.cap, prefill_tps=args.prefill_tps, decode_tps=args.decode_tps)
        if args.cap is not None
        else None
    )
    server = OpenAIStandin(
        latency_s=args.latency,
        honour_n=not args.ignore_n,
        host=args.host,
        port=args.port,
        engine=engine,
        reply=load_reply(args.reply) if args.reply else "stand-in reply {i}",
    )
    print(f"OpenAI stand-in at http://{args.host}:{args.port}/v1", flush=True)
    asyncio.run(server.serve())


if __name__ == "__main__":
    main()
