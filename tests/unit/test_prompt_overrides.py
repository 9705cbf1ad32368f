"""A run can replace any agent prompt from its config; the bank keeps the text it used."""

from __future__ import annotations

from pathlib import Path

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel

from stepstones.agents.build import build_teacher
from stepstones.agents.prompting import prompt_names
from stepstones.agents.teacher import LLMTeacher, TeacherRequest
from stepstones.graphs.context import ConfigError, RunContext, load_context
from stepstones.tools.schema import Seed

PROPOSE = "Write a puzzle about this $seed_kind, in the style of a coding contest:\n$seed\n"


def _config(tmp_path: Path, prompt: str, name: str = "teacher_propose") -> Path:
    (tmp_path / "prompts").mkdir(exist_ok=True)
    (tmp_path / "prompts" / "mine.md").write_text(prompt)
    cfg = tmp_path / "run.toml"
    cfg.write_text(f'[prompt_files]\n{name} = "prompts/mine.md"\n')
    return cfg


def test_an_override_is_read_relative_to_the_config_and_used_by_the_teacher(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir("/")  # the path is the config file's, not the working directory's
    ctx = load_context(_config(tmp_path, PROPOSE))
    assert ctx.prompts == {"teacher_propose": PROPOSE}
    stored = ctx.model_dump(mode="json")  # what the bank keeps, and a resume reads back
    assert "prompt_files" not in stored and stored["prompts"] == {"teacher_propose": PROPOSE}
    assert RunContext.model_validate(stored).prompts == ctx.prompts

    teacher = build_teacher(FakeListChatModel(responses=["{}"]), prompts=ctx.prompts)
    assert isinstance(teacher, LLMTeacher)
    request = TeacherRequest(
        seed=Seed(id="s", kind="code", text="def f(): pass"),
        lineage_id="L0",
        turn=0,
        direction="seed",
    )
    assert teacher.prompt(request) == PROPOSE.replace("$seed_kind", "code").replace(
        "$seed", "def f(): pass"
    )
    plain = build_teacher(FakeListChatModel(responses=["{}"]))
    assert isinstance(plain, LLMTeacher) and "contest" not in plain.prompt(request)


@pytest.mark.parametrize(
    ("prompt", "name", "words"),
    [
        ("Use $seed and $budget", "teacher_propose", "$budget, which the agent does not fill"),
        ("Costs 5$ only", "teacher_propose", "stray $"),
        ("hello", "teacher_banter", "unknown prompt 'teacher_banter'"),
    ],
)
def test_a_bad_override_is_a_config_error_before_the_run(
    tmp_path: Path, prompt: str, name: str, words: str
) -> None:
    with pytest.raises(ConfigError, match="invalid configuration") as info:
        load_context(_config(tmp_path, prompt, name))
    assert words in str(info.value)


def test_a_missing_override_file_names_it(tmp_path: Path) -> None:
    cfg = tmp_path / "run.toml"
    cfg.write_text('[prompt_files]\nteacher_refine = "nowhere.md"\n')
    with pytest.raises(ConfigError, match=r"cannot read .*nowhere\.md"):
        load_context(cfg)


def test_every_agent_prompt_can_be_overridden() -> None:
    assert {
        "teacher_system",
        "teacher_propose",
        "teacher_refine",
        "teacher_repair",
        "critic_review",
        "summarizer_analyze",
    } <= set(prompt_names())
