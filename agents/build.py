"""Agents from the strings a user writes in a config: one helper per role.

`procedural` and `sim:*` are the simulation mode; every other string is a model spec resolved by
`models.get_chat_model`, so any provider works for any role.
"""

from __future__ import annotations

from collections.abc import Mapping

from langchain_core.language_models import BaseChatModel

from stepstones.agents.models import ModelSettings, endpoint_key, get_chat_model, is_simulated
from stepstones.agents.student import LLMStudent, Student, parse_simulated
from stepstones.agents.teacher import LLMTeacher, ProceduralTeacher, ReplyFormat, Teacher
from stepstones.agents.usage import UsageMeter


def build_teacher(
    spec: str | BaseChatModel,
    *,
    seed: int = 0,
    settings: ModelSettings | None = None,
    meter: UsageMeter | None = None,
    prompts: Mapping[str, str] | None = None,
    reply_format: ReplyFormat = "fenced",
) -> Teacher:
    """`procedural` (simulation mode) or any model spec / chat model instance."""
    if isinstance(spec, str) and spec in ("procedural", "sim:procedural"):
        return ProceduralTeacher(seed=seed)
    name = spec if isinstance(spec, str) else type(spec).__name__
    return LLMTeacher(
        name,
        get_chat_model(spec, settings),
        meter=meter,
        settings=settings,
        prompts=prompts,
        reply_format=reply_format,
    )


def build_student(
    spec: str | BaseChatModel,
    *,
    seed: int = 0,
    settings: ModelSettings | None = None,
    meter: UsageMeter | None = None,
) -> Student:
    """`sim:NAME` / `sim:ABILITY` (simulation mode) or any model spec / chat model instance."""
    if isinstance(spec, str) and is_simulated(spec):
        return parse_simulated(spec, seed)
    name = spec if isinstance(spec, str) else type(spec).__name__
    settings = settings or ModelSettings()
    key = endpoint_key(spec) if isinstance(spec, str) else name
    return LLMStudent(name, get_chat_model(spec, settings), settings, meter=meter, key=key)


def build_chat_model(
    spec: str | BaseChatModel | None, settings: ModelSettings | None = None
) -> BaseChatModel | None:
    """A chat model for an optional LLM role (the critic's statement review), or None."""
    if spec is None:
        return None
    return get_chat_model(spec, settings)
