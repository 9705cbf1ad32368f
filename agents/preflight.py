"""Before the first turn, every configured model answers one tiny request.

A model that cannot start or answer (a wrong URL, a missing key, an engine build that faults on
this CPU) would otherwise fail turn after turn until the run drops it; asked first, it is one
clear error before anything is written. Local engines answer in their child process, so this is
also the engine's self-check: a build that crashes on its first decode is refused here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage

from stepstones.agents.models import ModelSettings
from stepstones.agents.sampling import call_with_retries, describe

PING = [HumanMessage("Reply with the single word OK.")]
PING_TOKENS = 4


@dataclass(frozen=True)
class ModelCheck:
    """One model to check and how to name it in the error."""

    role: str
    name: str
    model: BaseChatModel


class PreflightError(ValueError):
    """A configured model did not answer; the message names it and how to leave it out."""


def _leave_out(role: str, name: str, students: Sequence[str]) -> str:
    if role == "student":
        rest = [s for s in students if s != name]
        if rest:
            return f"leave it out with --students {','.join(rest)}"
        return "name another student with --students (e.g. sim:expert)"
    if role == "teacher":
        return "use another --teacher (procedural runs offline)"
    return f"set another {role} model in the config, or none"


async def ping(model: BaseChatModel, settings: ModelSettings) -> None:
    """One request of a few tokens, with the run's timeout and retries; raises on failure."""
    kwargs: dict[str, Any] = {"max_tokens": PING_TOKENS}
    if getattr(model, "extra_body", None):  # ChatOpenAI: its body's max_tokens would win
        kwargs["extra_body"] = {"max_tokens": PING_TOKENS}
    await call_with_retries(
        lambda: model.ainvoke(PING, **kwargs),
        timeout_s=settings.timeout_s,
        max_retries=settings.max_retries,
    )


async def preflight(
    checks: Sequence[ModelCheck], settings: ModelSettings, students: Sequence[str] = ()
) -> None:
    """Ping every distinct model at once; raise PreflightError naming the first that failed."""
    unique: dict[int, ModelCheck] = {}
    for check in checks:
        unique.setdefault(id(check.model), check)
    results = await asyncio.gather(
        *(ping(c.model, settings) for c in unique.values()), return_exceptions=True
    )
    for check, result in zip(unique.values(), results, strict=True):
        if isinstance(result, BaseException):
            raise PreflightError(
                f"{check.role} {check.name!r} did not answer a preflight request: "
                f"{describe(result, settings.timeout_s)}; "
                f"{_leave_out(check.role, check.name, students)}"
            )
