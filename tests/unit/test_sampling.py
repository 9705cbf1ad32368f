"""Sampling: exactly k samples, `n` honoured or topped up, bounded concurrency, retries, timeouts.

Fake chat models cover the generic path; the OpenAI stand-in server on loopback covers the real
ChatOpenAI -> HTTP path (n honoured or ignored, injected 429/500/400, stalls).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from typing import Any

import pytest
from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import BaseModel, Field

from stepstones.agents import sampling
from stepstones.agents.models import IN_PROCESS_KEY, ModelSettings, get_chat_model
from stepstones.agents.parsing import ainvoke_parsed
from stepstones.agents.sampling import Sample, is_transient, sample
from stepstones.evals.openai_standin import OpenAIStandin

MESSAGES: list[BaseMessage] = [HumanMessage("write solve(x)")]
_keys = itertools.count()


class Reply(BaseModel):
    text: str


def fresh_key() -> str:
    """A new endpoint key: each test gets its own semaphore and n memory."""
    return f"test-endpoint-{next(_keys)}"


@pytest.fixture(autouse=True)
def _fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sampling, "BACKOFF_BASE_S", 0.01)


@pytest.fixture(scope="module")
def server() -> Iterator[OpenAIStandin]:
    with OpenAIStandin() as s:
        yield s


@pytest.fixture
def standin(server: OpenAIStandin) -> Iterator[OpenAIStandin]:
    server.reset()
    server.latency_s, server.honour_n = 0.0, True
    yield server
    server.reset()


class HTTPError(Exception):
    """Looks like an SDK's status error: carries `status_code`."""

    def __init__(self, status_code: int) -> None:
        super().__init__(f"HTTP {status_code}")
        self.status_code = status_code


class ScriptedModel(BaseChatModel):
    """Raises the scripted errors in turn, then answers; tracks calls and overlap."""

    errors: list[Exception] = Field(default_factory=list)
    delay_s: float = 0.0
    calls: int = 0
    active: int = 0
    max_active: int = 0

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        raise NotImplementedError

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        self.calls += 1
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        try:
            await asyncio.sleep(self.delay_s)
            if self.errors:
                raise self.errors.pop(0)
        finally:
            self.active -= 1
        usage = {"input_tokens": 4, "output_tokens": 2, "total_tokens": 6}
        message = AIMessage(f"reply {self.calls}", usage_metadata=usage)
        return ChatResult(generations=[ChatGeneration(message=message)])


def test_transient_errors() -> None:
    assert is_transient(TimeoutError()) and is_transient(ConnectionResetError())
    assert is_transient(HTTPError(429)) and is_transient(HTTPError(503))
    assert not is_transient(HTTPError(400)) and not is_transient(HTTPError(401))
    assert not is_transient(ValueError("bad"))

    class APIConnectionError(Exception):
        pass

    assert is_transient(APIConnectionError())


async def test_fake_model_gives_exactly_k_samples() -> None:
    model = FakeListChatModel(responses=["a", "b", "c"])
    got = await sample(model, MESSAGES, 5, key=fresh_key())
    assert len(got) == 5 and all(s.error is None for s in got)
    assert {s.text for s in got} <= {"a", "b", "c"}
    assert await sample(model, MESSAGES, 0) == []


async def test_transient_errors_are_retried_and_others_recorded() -> None:
    model = ScriptedModel(errors=[HTTPError(429), HTTPError(500)])
    (s,) = await sample(model, MESSAGES, 1, key=fresh_key())
    assert s.error is None and model.calls == 3
    assert (s.input_tokens, s.output_tokens) == (4, 2)

    model = ScriptedModel(errors=[HTTPError(401)])
    (s,) = await sample(model, MESSAGES, 1, key=fresh_key())
    assert model.calls == 1 and s.text == "" and s.error == "HTTPError: HTTP 401"

    model = ScriptedModel(errors=[HTTPError(503)] * 5)
    settings = ModelSettings(max_retries=2)
    (s,) = await sample(model, MESSAGES, 1, settings=settings, key=fresh_key())
    assert model.calls == 3 and s.error is not None and "503" in s.error


async def test_timeout_becomes_an_error_sample() -> None:
    model = ScriptedModel(delay_s=5)
    settings = ModelSettings(timeout_s=0.05, max_retries=1)
    got = await asyncio.wait_for(
        sample(model, MESSAGES, 2, settings=settings, key=fresh_key()), timeout=3
    )
    assert [s.error for s in got] == ["timeout after 0.05s"] * 2
    assert model.calls == 4  # each sample: one try and one retry


async def test_concurrency_is_bounded_per_endpoint() -> None:
    key = fresh_key()
    model = ScriptedModel(delay_s=0.03)
    settings = ModelSettings(max_concurrency=3)
    batches = await asyncio.gather(
        sample(model, MESSAGES, 8, settings=settings, key=key),
        sample(model, MESSAGES, 8, settings=settings, key=key),
    )
    assert [len(b) for b in batches] == [8, 8]
    assert model.max_active == 3  # two students on one endpoint share its bound

    other = ScriptedModel(delay_s=0.03)
    await asyncio.gather(
        sample(other, MESSAGES, 3, settings=settings, key=fresh_key()),
        sample(other, MESSAGES, 3, settings=settings, key=fresh_key()),
    )
    assert other.max_active == 6  # different endpoints do not


async def test_teacher_calls_share_the_endpoints_bound_with_the_students() -> None:
    """Issue 19: a teacher on the students' server takes slots of the same bound."""
    key = fresh_key()
    model = ScriptedModel(delay_s=0.03)
    settings = ModelSettings(max_concurrency=3)
    await asyncio.gather(
        sample(model, MESSAGES, 8, settings=settings, key=key),
        *(ainvoke_parsed(model, MESSAGES, Reply, settings=settings, key=key) for _ in range(4)),
    )
    # "reply N" is no JSON: each teacher call is repaired once, so 8 samples + 4 x 2 calls.
    assert model.calls == 16 and model.max_active == 3


async def test_in_process_engine_queues_outside_the_timeout() -> None:
    # Five calls of 0.1 s each on an engine that runs one at a time: with a 0.15 s timeout per
    # call, they only all succeed if waiting for the engine is not part of the timeout.
    model = ScriptedModel(delay_s=0.1, metadata={IN_PROCESS_KEY: True})
    settings = ModelSettings(timeout_s=0.15, max_retries=0, max_concurrency=16)
    got = await sample(model, MESSAGES, 5, settings=settings, key=fresh_key())
    assert [s.error for s in got] == [None] * 5
    assert model.max_active == 1


async def test_server_honouring_n_gets_one_request(standin: OpenAIStandin) -> None:
    model = get_chat_model(f"vllm:m@{standin.base_url}")
    got = await sample(model, MESSAGES, 4, key=fresh_key())
    assert [s.text for s in got] == [f"stand-in reply {i}" for i in range(4)]
    assert len(standin.requests) == 1 and standin.requests[0]["n"] == 4
    assert [s.requests for s in got] == [1, 0, 0, 0]  # the meter counts one call, not four
    # The response's usage is split over the choices: the sum counts every token once.
    assert sum(s.input_tokens for s in got) == 2  # "write solve(x)"
    assert sum(s.output_tokens for s in got) == 4 * 3


async def test_server_ignoring_n_is_topped_up_and_remembered(standin: OpenAIStandin) -> None:
    standin.honour_n = False  # like llama.cpp's server: one choice whatever n says
    key = fresh_key()
    model = get_chat_model(f"vllm:m@{standin.base_url}")
    got = await sample(model, MESSAGES, 3, key=key)
    assert len(got) == 3 and all(s.error is None for s in got)
    assert [r.get("n") for r in standin.requests] == [3, None, None]
    assert sum(s.requests for s in got) == len(standin.requests)
    standin.reset()
    got = await sample(model, MESSAGES, 3, key=key)
    assert len(got) == 3 and [r.get("n") for r in standin.requests] == [None] * 3


async def test_unknown_openai_compatible_server_gets_concurrent_calls(
    standin: OpenAIStandin,
) -> None:
    settings = ModelSettings(base_url=standin.base_url, api_key="x")
    model = get_chat_model("openai:m", settings)
    got = await sample(model, MESSAGES, 3, settings=settings, key=fresh_key())
    assert len(got) == 3 and len(standin.requests) == 3
    assert all("n" not in r for r in standin.requests)


async def test_server_refusing_n_falls_back(standin: OpenAIStandin) -> None:
    standin.fail_next.append(400)  # "n must be 1"
    model = get_chat_model(f"vllm:m@{standin.base_url}")
    got = await sample(model, MESSAGES, 2, key=fresh_key())
    assert [s.error for s in got] == [None, None]
    assert [r.get("n") for r in standin.requests] == [2, None, None]


async def test_http_429_and_500_are_retried(standin: OpenAIStandin) -> None:
    standin.fail_next.extend([429, 500])
    model = get_chat_model(f"vllm:m@{standin.base_url}")
    (s,) = await sample(model, MESSAGES, 1, key=fresh_key())
    assert s.error is None and len(standin.requests) == 3


async def test_http_401_is_not_retried(standin: OpenAIStandin) -> None:
    standin.fail_next.append(401)
    model = get_chat_model(f"vllm:m@{standin.base_url}")
    (s,) = await sample(model, MESSAGES, 1, key=fresh_key())
    assert s.error is not None and "401" in s.error and len(standin.requests) == 1


async def test_http_timeout_is_retried_then_recorded(standin: OpenAIStandin) -> None:
    settings = ModelSettings(timeout_s=0.2, max_retries=1)
    model = get_chat_model(f"vllm:m@{standin.base_url}", settings)
    standin.delay_next.extend([3.0])
    (ok,) = await sample(model, MESSAGES, 1, settings=settings, key=fresh_key())
    assert ok.error is None and len(standin.requests) == 2  # stalled once, retried
    standin.reset()
    standin.delay_next.extend([3.0, 3.0])
    (bad,) = await sample(model, MESSAGES, 1, settings=settings, key=fresh_key())
    assert bad.error is not None and "timeout" in bad.error.lower()


async def test_http_concurrency_bound(standin: OpenAIStandin) -> None:
    standin.latency_s = 0.05
    settings = ModelSettings(max_concurrency=4, n_native=False)
    model = get_chat_model(f"vllm:m@{standin.base_url}", settings)
    got = await sample(model, MESSAGES, 12, settings=settings, key=fresh_key())
    assert len(got) == 12 and all(s.error is None for s in got)
    assert standin.max_in_flight == 4


def test_sample_record_defaults() -> None:
    assert Sample("x") == Sample(text="x", input_tokens=0, output_tokens=0, error=None)
