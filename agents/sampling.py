"""k samples from a chat model: one request with `n` where the endpoint honours it, else k calls.

A vLLM server answers `n=k` with k choices from one prefill, the cheapest way to sample; llama.cpp
and many OpenAI-compatible servers silently return one. So a request with `n` is topped up with
single calls when fewer choices come back, and the endpoint is remembered as ignoring `n`.

Every request to an endpoint passes one asyncio semaphore (per event loop and endpoint key), so
all students on one server together keep at most `max_concurrency` requests in flight. A
transient failure (timeout, 429, 5xx, dropped connection) is retried with exponential jittered
backoff outside the semaphore; what still fails becomes a `Sample` with `error` set, never an
exception: a dead endpoint is the run's infrastructure problem, not a student's wrong answer.
"""

from __future__ import annotations

import asyncio
import re
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatGeneration

from stepstones.agents.models import IN_PROCESS_KEY, N_NATIVE_KEY, ModelSettings
from stepstones.tools import retry

T = TypeVar("T")

BACKOFF_BASE_S = 0.5
"""First retry waits about this long (x0.5 to x1.5 jitter), doubling each retry."""
BACKOFF_CAP_S = 20.0

_TRANSIENT_NAMES = frozenset(
    {
        "APIConnectionError",
        "APITimeoutError",
        "RateLimitError",
        "InternalServerError",
        "ServiceUnavailableError",
        "TimeoutException",
        "TransportError",
        "NetworkError",
        "RemoteProtocolError",
        "ConnectError",
        "ReadError",
        "ReadTimeout",
        "ConnectTimeout",
        "PoolTimeout",
        "ServerDisconnectedError",
        "ClientConnectionError",
    }
)


@dataclass
class Sample:
    """One sampled reply and its tokens; `error` is set (and `text` empty) when the call failed."""

    text: str
    input_tokens: int = 0
    output_tokens: int = 0
    error: str | None = None
    requests: int = 1
    """Requests this sample stands for: 1, or 0 for the 2nd..kth choices of one `n` request."""


def is_transient(exc: BaseException) -> bool:
    """Worth retrying: timeouts, 408/409/429, 5xx and connection errors, from any provider SDK.

    Matched by HTTP status or by exception class name so that no SDK needs importing here.
    """
    if isinstance(exc, TimeoutError | ConnectionError):
        return True
    status = getattr(exc, "status_code", None)
    if status is None:
        status = getattr(getattr(exc, "response", None), "status_code", None)
    if isinstance(status, int):
        return status in (408, 409, 425, 429) or status >= 500
    return any(c.__name__ in _TRANSIENT_NAMES for c in type(exc).__mro__)


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def clean_text(text: str) -> str:
    """`text` with every lone surrogate (not UTF-8 encodable) replaced by U+FFFD.

    A model (or a server decoding a broken byte sequence) can return one; SQLite, JSON files
    and the sandbox would then fail to encode the reply, ending the run over one character.
    """
    return _LONE_SURROGATE.sub("\ufffd", text)


def describe(exc: BaseException, timeout_s: float | None = None) -> str:
    """A short, single-line account of a failed call for records and logs."""
    if isinstance(exc, TimeoutError) and timeout_s is not None:
        return f"timeout after {timeout_s:g}s"
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}"[:800]


def backoff_delay(attempt: int) -> float:
    """Seconds to wait before retry `attempt` (0-based) of a model call (tools/retry.py)."""
    return retry.backoff_delay(attempt, BACKOFF_BASE_S, BACKOFF_CAP_S)


async def call_with_retries(
    fn: Callable[[], Awaitable[T]],
    *,
    timeout_s: float,
    max_retries: int,
    limit: asyncio.Semaphore | None = None,
) -> T:
    """`await fn()` with a timeout per attempt, retrying transient failures; else raises.

    The semaphore is held during each attempt only, not while backing off, so a retrying
    request does not starve the endpoint's other callers.
    """
    for attempt in range(max_retries + 1):
        try:
            # asyncio.timeout, not wait_for: wait_for wraps the call in a task of its own.
            if limit is None:
                async with asyncio.timeout(timeout_s):
                    return await fn()
            async with limit, asyncio.timeout(timeout_s):
                return await fn()
        except Exception as exc:
            if attempt >= max_retries or not is_transient(exc):
                raise
        await asyncio.sleep(backoff_delay(attempt))
    raise AssertionError("unreachable")  # the loop returns or raises


class Endpoints:
    """What this process knows of each model endpoint: its in-flight bound and whether it
    honours `n`.

    Process-wide on purpose, and the one such place: an endpoint's capacity is the endpoint's,
    so every run and every agent in a process that calls it (Studio threads, a Python caller
    running several graphs) must share one bound, and an endpoint seen ignoring `n` ignores it
    for all of them. Nothing here belongs to a run: results, usage and model calls are per run
    (graphs/components.py).
    """

    def __init__(self) -> None:
        # Per loop because an asyncio semaphore belongs to one event loop (tests and Studio
        # runs may each bring their own); weak, so a finished loop's semaphores go with it.
        self._semaphores: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, dict[str, asyncio.Semaphore]
        ] = weakref.WeakKeyDictionary()
        self._n_ignored: set[str] = set()

    def semaphore(self, key: str, limit: int) -> asyncio.Semaphore:
        """The running loop's semaphore for `key`; the first caller's `limit` sets its size."""
        per_loop = self._semaphores.setdefault(asyncio.get_running_loop(), {})
        if key not in per_loop:
            per_loop[key] = asyncio.Semaphore(max(1, limit))
        return per_loop[key]

    def ignores_n(self, key: str) -> bool:
        """Whether `key` was seen returning fewer choices than `n` asked for."""
        return key in self._n_ignored

    def note_ignores_n(self, key: str) -> None:
        """From now on `key` gets single calls."""
        self._n_ignored.add(key)


ENDPOINTS = Endpoints()
"""The process's endpoints (see Endpoints for why there is one)."""


def endpoint_limit(model: BaseChatModel, settings: ModelSettings, key: str) -> asyncio.Semaphore:
    """The bound on requests in flight to endpoint `key` (1 for an in-process engine, which runs
    one call at a time anyway: waiting for it must not count against a call's timeout)."""
    in_process = bool((model.metadata or {}).get(IN_PROCESS_KEY))
    return ENDPOINTS.semaphore(key, 1 if in_process else settings.max_concurrency)


def wants_n(model: BaseChatModel, settings: ModelSettings, key: str) -> bool:
    """Whether to ask for k choices in one request.

    The settings decide when set; otherwise the flag `get_chat_model` put on the model (True for
    vllm:, False for llama.cpp and unknown servers); otherwise any ChatOpenAI-family model tries.
    An endpoint once seen ignoring `n` never gets it again in this process.
    """
    if ENDPOINTS.ignores_n(key):
        return False
    if settings.n_native is not None:
        return bool(settings.n_native)
    flag = (model.metadata or {}).get(N_NATIVE_KEY)
    if isinstance(flag, bool):
        return flag
    return any(c.__name__ == "BaseChatOpenAI" for c in type(model).__mro__)


def _tokens(message: Any) -> tuple[int, int]:
    usage = getattr(message, "usage_metadata", None) or {}
    return int(usage.get("input_tokens", 0) or 0), int(usage.get("output_tokens", 0) or 0)


def _split(total: int, weights: list[int]) -> list[int]:
    """`total` split in proportion to `weights`, summing exactly to `total`."""
    scale = sum(weights) or 1
    parts = [total * w // scale for w in weights]
    parts[0] += total - sum(parts)
    return parts


def _samples_from_choices(messages: list[Any]) -> list[Sample]:
    """Samples from the choices of one response.

    OpenAI-compatible servers report one usage for the whole response, which LangChain copies
    onto every choice: split it (prompt evenly, completion by reply length) so that summing the
    samples counts each token once. Per-choice usage (in-process vLLM) is kept as is.
    """
    texts = [clean_text(str(m.text)) for m in messages]
    usage = [_tokens(m) for m in messages]
    if len(messages) > 1 and len(set(usage)) == 1:
        ins = _split(usage[0][0], [1] * len(messages))
        outs = _split(usage[0][1], [len(t) + 1 for t in texts])
        usage = list(zip(ins, outs, strict=True))
    return [
        Sample(text=t, input_tokens=i, output_tokens=o, requests=int(j == 0))
        for j, (t, (i, o)) in enumerate(zip(texts, usage, strict=True))
    ]


async def _sample_n(
    model: BaseChatModel,
    messages: list[BaseMessage],
    k: int,
    settings: ModelSettings,
    limit: asyncio.Semaphore,
    key: str,
) -> list[Sample]:
    """Up to k samples from one request with n=k; [] when the endpoint refused `n`."""
    try:
        result = await call_with_retries(
            lambda: model.agenerate([messages], n=k),
            timeout_s=settings.timeout_s,
            max_retries=settings.max_retries,
            limit=limit,
        )
    except Exception as exc:
        if is_transient(exc):  # retried already: the endpoint is down, not picky about n
            error = describe(exc, settings.timeout_s)
            return [Sample(text="", error=error, requests=int(j == 0)) for j in range(k)]
        ENDPOINTS.note_ignores_n(key)  # e.g. 400 "n must be 1": single calls will do
        return []
    generations = result.generations[0] if result.generations else []
    choices = [g.message for g in generations if isinstance(g, ChatGeneration)]
    if len(choices) < k:
        ENDPOINTS.note_ignores_n(key)
    return _samples_from_choices(choices[:k])


async def _sample_one(
    model: BaseChatModel,
    messages: list[BaseMessage],
    settings: ModelSettings,
    limit: asyncio.Semaphore,
) -> Sample:
    try:
        reply = await call_with_retries(
            lambda: model.ainvoke(messages),
            timeout_s=settings.timeout_s,
            max_retries=settings.max_retries,
            limit=limit,
        )
    except Exception as exc:
        return Sample(text="", error=describe(exc, settings.timeout_s))
    return _samples_from_choices([reply])[0]


async def sample(
    model: BaseChatModel,
    messages: list[BaseMessage],
    k: int,
    *,
    settings: ModelSettings | None = None,
    key: str = "default",
) -> list[Sample]:
    """Exactly k samples in order; failed ones carry `error` (model errors are never raised).

    `key` names the endpoint (`models.endpoint_key`): calls sharing it share one bound of
    `settings.max_concurrency` requests in flight (1 for an in-process engine, which runs one
    call at a time anyway: waiting for it must not count against a call's timeout).
    """
    if k <= 0:
        return []
    settings = settings or ModelSettings()
    limit = endpoint_limit(model, settings, key)
    samples: list[Sample] = []
    if k > 1 and wants_n(model, settings, key):
        samples = await _sample_n(model, messages, k, settings, limit, key)
    missing = k - len(samples)
    if missing > 0:
        samples += await asyncio.gather(
            *(_sample_one(model, messages, settings, limit) for _ in range(missing))
        )
    return samples
