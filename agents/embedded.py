"""In-process chat models: llama.cpp (the embedded default) and the vLLM engine.

Both engines are blocking and not safe to call from two threads at once, so each loaded engine
has one lock and calls run in a worker thread: the event loop keeps serving sandbox runs and
other students while a local model generates. Engines load on first call and are shared by
every model object over the same weights file (two students on `embedded` load it once).
Neither `llama_cpp` nor `vllm` is imported until then: both are optional extras.
"""

from __future__ import annotations

import asyncio
import atexit
import threading
from collections.abc import Callable
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, SystemMessage
from langchain_core.messages.ai import UsageMetadata
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import Field, PrivateAttr

from stepstones.tools.schema import content_hash

_ENGINES: dict[tuple[str, str], tuple[Any, threading.Lock]] = {}
_ENGINES_LOCK = threading.Lock()


def _engine(kind: str, path: str, load: Callable[[], Any]) -> tuple[Any, threading.Lock]:
    """The engine loaded from `path` (loaded once per process) and the lock guarding it."""
    with _ENGINES_LOCK:
        if not _ENGINES:
            atexit.register(close_engines)
        if (kind, path) not in _ENGINES:
            _ENGINES[(kind, path)] = (load(), threading.Lock())
        return _ENGINES[(kind, path)]


def close_engines() -> None:
    """Free every loaded engine (at exit: llama.cpp's own finaliser fails during shutdown)."""
    with _ENGINES_LOCK:
        engines = list(_ENGINES.values())
        _ENGINES.clear()
    for engine, lock in engines:
        close = getattr(engine, "close", None)
        if callable(close):
            with lock:
                close()


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


class _InProcessChatModel(BaseChatModel):
    """What both engines share: weights at a path, and blocking generation run in a thread."""

    model_path: str
    temperature: float = 0.7
    max_tokens: int = 1024

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_path": self.model_path, "temperature": self.temperature}

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        # A worker thread: generation takes seconds and must not block the event loop.
        return await asyncio.to_thread(self._generate, messages, stop, None, **kwargs)


class LlamaCppChatModel(_InProcessChatModel):
    """A GGUF model run by llama-cpp-python in this process, on CPU; one reply per call."""

    _asked: dict[str, int] = PrivateAttr(default_factory=dict)

    n_ctx: int = Field(4096, description="context window; SmolLM2 was trained on 8192")
    n_threads: int | None = Field(None, description="None: llama.cpp's default (half the cores)")
    default_stop: list[str] = Field(
        default_factory=list, description="stop sequences added to every call's own")
    seed: int = Field(0, description="with the prompt and its repeat count, seeds each call")

    @property
    def _llm_type(self) -> str:
        return "llamacpp-inprocess"

    def _call_seed(self, chat: list[dict[str, str]]) -> int:
        """A seed from (model seed, prompt, how often this prompt was asked before).

        The same run gives the same replies whatever order concurrent lineages reach the engine
        in, and the k samples of one prompt still differ. Called under the engine lock.
        """
        key = content_hash(self.seed, chat)
        nth = self._asked.get(key, 0)
        self._asked[key] = nth + 1
        return int(content_hash(key, nth)[:8], 16)

    def _load(self) -> Any:
        from llama_cpp import Llama

        return Llama(
            model_path=self.model_path, n_ctx=self.n_ctx, n_threads=self.n_threads, verbose=False
        )

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        llm, lock = _engine("llamacpp", self.model_path, self._load)
        chat = to_openai_messages(messages)
        with lock:
            reply = llm.create_chat_completion(
                messages=chat,
                seed=self._call_seed(chat),
                temperature=kwargs.get("temperature", self.temperature),
                max_tokens=kwargs.get("max_tokens", self.max_tokens),
                stop=[*self.default_stop, *(stop or [])] or None,
            )
        usage = reply.get("usage") or {}
        message = AIMessage(
            content=reply["choices"][0]["message"].get("content") or "",
            usage_metadata=_usage(usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0)),
        )
        finish = reply["choices"][0].get("finish_reason")
        return ChatResult(
            generations=[ChatGeneration(message=message, generation_info={"finish_reason": finish})]
        )


class VLLMChatModel(_InProcessChatModel):
    """The vLLM engine in this process (`vllm.LLM`); honours `n` natively in one call.

    Usage: the first choice carries the prompt's tokens, each choice its own completion tokens,
    so summing over choices counts the prompt once.
    """

    engine_kwargs: dict[str, Any] = Field(
        default_factory=dict, description="passed to vllm.LLM (tensor_parallel_size, dtype...)"
    )

    @property
    def _llm_type(self) -> str:
        return "vllm-inprocess"

    def _load(self) -> Any:
        from vllm import LLM

        return LLM(model=self.model_path, **self.engine_kwargs)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        from vllm import SamplingParams

        llm, lock = _engine("vllm", self.model_path, self._load)
        params = SamplingParams(
            n=int(kwargs.get("n") or 1),
            temperature=kwargs.get("temperature", self.temperature),
            max_tokens=kwargs.get("max_tokens", self.max_tokens),
            stop=stop,
        )
        with lock:
            (output,) = llm.chat(
                to_openai_messages(messages), sampling_params=params, use_tqdm=False
            )
        prompt_tokens = len(output.prompt_token_ids or [])
        generations = []
        for i, choice in enumerate(output.outputs):
            message = AIMessage(
                content=choice.text,
                usage_metadata=_usage(prompt_tokens if i == 0 else 0, len(choice.token_ids)),
            )
            generations.append(
                ChatGeneration(
                    message=message, generation_info={"finish_reason": choice.finish_reason}
                )
            )
        return ChatResult(generations=generations)
