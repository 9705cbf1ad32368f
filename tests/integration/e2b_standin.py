"""A local stand-in for E2B's API and code-interpreter endpoints, so the real SDK runs in CI.

The SDK reads E2B_API_URL (control plane: `POST /v2/sandboxes`, `DELETE /sandboxes/{id}`) and
E2B_SANDBOX_URL (where `run_code` POSTs `/execute`, naming the sandbox in `E2b-Sandbox-Id`).
Each stand-in "sandbox" is a Python namespace in this process, like a Jupyter kernel; code runs
with `exec`, so the harness subprocess the backend starts there is a real local process. Like the
hosted tier it refuses sandboxes past `capacity` with 429 and can drop a burst of creates.
"""

from __future__ import annotations

import json
import threading
import traceback
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class E2BStandIn:
    """A threaded HTTP server speaking the subset of E2B's API the SDK uses to create and run."""

    def __init__(self, capacity: int = 20, drop_creates: int = 0) -> None:
        self.capacity = capacity
        self.drop_creates = drop_creates
        self.kernels: dict[str, dict[str, Any]] = {}
        self.lock = threading.Lock()
        self.created = self.refused = self.dropped = self.executions = self.peak = 0
        self.killed = 0
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """Base URL for both E2B_API_URL and E2B_SANDBOX_URL."""
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> E2BStandIn:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        for ns in list(self.kernels.values()):
            _stop(ns)

    def create(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """Like POST /v2/sandboxes: 429 past capacity, 503 for a dropped create."""
        with self.lock:
            if self.drop_creates > 0:
                self.drop_creates -= 1
                self.dropped += 1
                return 503, {"code": 503, "message": "create dropped (burst)"}
            if len(self.kernels) >= self.capacity:
                self.refused += 1
                return 429, {"code": 429, "message": "concurrent sandbox limit reached"}
            sid = uuid.uuid4().hex[:12]
            self.kernels[sid] = {"__name__": "__kernel__"}
            self.created += 1
            self.peak = max(self.peak, len(self.kernels))
        return 201, {
            "templateID": body.get("templateID", "code-interpreter-v1"),
            "sandboxID": sid,
            "clientID": "standin",
            "envdVersion": "0.2.0",
        }

    def kill(self, sid: str) -> int:
        """Like DELETE /sandboxes/{id}."""
        with self.lock:
            ns = self.kernels.pop(sid, None)
        if ns is None:
            return 404
        with self.lock:
            self.killed += 1
        _stop(ns)
        return 204

    def execute(self, sid: str, code: str) -> list[dict[str, Any]]:
        """Like the code interpreter's /execute: stdout and error events, one JSON per line."""
        ns = self.kernels.get(sid)
        if ns is None:
            raise KeyError(sid)
        self.executions += 1
        out: list[str] = []
        ns["print"] = lambda *a, **k: out.append(" ".join(map(str, a)) + k.get("end", "\n"))
        stamp = datetime.now(UTC).isoformat()
        events: list[dict[str, Any]] = []
        try:
            exec(compile(code, "<cell>", "exec"), ns)
        except Exception as exc:
            events.append(
                {
                    "type": "error",
                    "name": type(exc).__name__,
                    "value": str(exc),
                    "traceback": traceback.format_exc(),
                }
            )
        events[:0] = [{"type": "stdout", "text": text, "timestamp": stamp} for text in out]
        return events

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _reply(self, code: int, body: bytes = b"", kind: str = "application/json") -> None:
                self.send_response(code)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                if code >= 400:
                    self.send_header("Should-Retry", "false")  # the backend does the backoff
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                size = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(size) or b"{}")
                if self.path.startswith("/v2/sandboxes"):
                    code, reply = standin.create(body)
                    self._reply(code, json.dumps(reply).encode())
                elif self.path == "/execute":
                    try:
                        events = standin.execute(self.headers["E2b-Sandbox-Id"], body["code"])
                    except KeyError:
                        self._reply(404, b'{"message": "sandbox not found"}')
                        return
                    lines = "".join(json.dumps(e) + "\n" for e in events).encode()
                    self._reply(200, lines, "application/x-ndjson")
                else:
                    self._reply(404, b'{"message": "not found"}')

            def do_DELETE(self) -> None:
                if self.path.startswith("/sandboxes/"):
                    self._reply(standin.kill(self.path.rsplit("/", 1)[1]))
                else:
                    self._reply(404, b'{"message": "not found"}')

        return Handler


def _stop(ns: dict[str, Any]) -> None:
    proc = ns.get("_ss")
    if proc is not None and proc.poll() is None:
        proc.kill()
        proc.wait()
