"""Local chat models over native engines: llama.cpp (the embedded model) and vLLM's engine.

Both engines run in a child process that stepstones starts and supervises
(`engine_process.EngineProcess`): a segfault, abort or OOM kill there fails the requests in
flight as infrastructure errors, retried on a restarted engine, and never takes the run down.
Every model object over the same weights file and arguments shares one child. Calls block
while the child generates, so they run in a worker thread and the event loop keeps serving
sandbox runs and other students. Neither `llama_cpp` nor `vllm` is imported in this process.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, SystemMessage
from langchain_core.messages.ai import UsageMetadata
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import Field, PrivateAttr

from stepstones.agents.engine_process import EngineProcess, close_engines, engine_for
from stepstones.tools.schema import content_hash

__all__ = ["EngineChatModel", "LlamaCppChatModel", "VLLMChatModel", "close_engines"]


def to_openai_messages(messages: list[BaseMessage]) -> list[dict[str, str]]:
    """LangChain messages as OpenAI-style role/content dicts (what both engines' chat APIs take)."""
    out = []
    for m in messages:
        if isinstance(m, SystemMessage):
            role = "system"
        elif isinstance(m, AIMessage):
            role = "assistant"
        else:
            role = "user"  # human, tool and custom messages read as user turns
        out.append({"role": role, "content": m.text})
    return out


def _usage(prompt: int, completion: int) -> UsageMetadata:
    return UsageMetadata(
        input_tokens=prompt, output_tokens=completion, total_tokens=prompt + completion
    )


class EngineChatModel(BaseChatModel):
    """A chat model served by an engine in a supervised child process (see the module doc).

    `engine` names what the child loads: "llamacpp", "vllm", or `module:callable` for an
    engine of one's own (the tests use one that crashes on purpose).
    """

    model_path: str
    engine: str
    engine_kwargs: dict[str, Any] = Field(default_factory=dict)
    temperature: float = 0.7
    max_tokens: int = 1024
    timeout_s: float = Field(120.0, description="per request; a child silent for longer is killed")
    default_stop: list[str] = Field(
        default_factory=list, description="stop sequences added to every call's own"
    )

    @property
    def _llm_type(self) -> str:
        return f"{self.engine}-child"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {
            "model_path": self.model_path,
            "engine": self.engine,
            "temperature": self.temperature,
        }

    def process(self) -> EngineProcess:
        """The child process this model's requests go to (shared per weights and arguments)."""
        return engine_for(
            {"engine": self.engine, "kwargs": {"model_path": self.model_path, **self.engine_kwargs}}
        )

    def _params(
        self, chat: list[dict[str, str]], stop: list[str] | None, **kwargs: Any
    ) -> dict[str, Any]:
        return {
            "temperature": kwargs.get("temperature", self.temperature),
            "max_tokens": kwargs.get("max_tokens", self.max_tokens),
            "stop": [*self.default_stop, *(stop or [])] or None,
            "n": int(kwargs.get("n") or 1),
        }

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        chat = to_openai_messages(messages)
        reply = self.process().request(chat, self._params(chat, stop, **kwargs), self.timeout_s)
        generations = []
        for i, choice in enumerate(reply.get("choices") or []):
            # The prompt's tokens go on the first choice, so summing choices counts them once.
            usage = _usage(
                int(reply.get("prompt_tokens", 0)) if i == 0 else 0,
                int(choice.get("completion_tokens", 0)),
            )
            generations.append(
                ChatGeneration(
                    message=AIMessage(content=str(choice.get("text") or ""), usage_metadata=usage),
                    generation_info={"finish_reason": choice.get("finish_reason")},
                )
            )
        return ChatResult(generations=generations)

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        # A worker thread: generation takes seconds and must not block the event loop.
        return await asyncio.to_thread(self._generate, messages, stop, None, **kwargs)


class LlamaCppChatModel(EngineChatModel):
    """A GGUF model run by llama-cpp-python on the CPU; one reply per call, seeded per call."""

    engine: str = "llamacpp"
    seed: int = Field(0, description="with the prompt and its repeat count, seeds each call")
    _asked: dict[str, int] = PrivateAttr(default_factory=dict)
    _asked_lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    def _call_seed(self, chat: list[dict[str, str]]) -> int:
        """A seed from (model seed, prompt, how often this prompt was asked before).

        The same run gives the same replies whatever order concurrent lineages reach the engine
        in, and the k samples of one prompt still differ.
        """
        key = content_hash(self.seed, chat)
        with self._asked_lock:  # calls come from worker threads
            nth = self._asked.get(key, 0)
            self._asked[key] = nth + 1
        return int(content_hash(key, nth)[:8], 16)

    def _params(
        self, chat: list[dict[str, str]], stop: list[str] | None, **kwargs: Any
    ) -> dict[str, Any]:
        return {**super()._params(chat, stop, **kwargs), "seed": self._call_seed(chat)}


class VLLMChatModel(EngineChatModel):
    """vLLM's engine (`vllm.LLM`) in a child process; honours `n` natively in one call."""

    engine: str = "vllm"
