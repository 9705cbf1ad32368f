"""Every model call of a run is kept in the bank: messages, replies, tokens, latency, outcome.

A rejected draft can then be read (and replayed) with the very messages its model was given;
`stepstones export --calls` writes the log beside the data.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import Field
from typer.testing import CliRunner

from stepstones.agents.preflight import PING
from stepstones.graphs.bands import Band
from stepstones.graphs.context import Budget, CriticConfig, RunContext, SeedConfig
from stepstones.runner import run_pipeline
from stepstones.tools.store import Bank
from tests.conftest import needs_bwrap
from tests.integration.test_llm_agents import DRAFT

SOLUTION = "```python\ndef solve(xs):\n    return sorted(xs)\n```"


class Scripted(BaseChatModel):
    """Answers the preflight ping with OK, every other request with the next of `replies`."""

    replies: list[str] = Field(default_factory=list)
    served: int = 0

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any
    ) -> ChatResult:
        if messages[-1].text == PING[-1].text:
            return ChatResult(generations=[ChatGeneration(message=AIMessage("OK"))])
        text = self.replies[min(self.served, len(self.replies) - 1)]
        self.served += 1
        usage = {"input_tokens": 11, "output_tokens": 7, "total_tokens": 18}
        return ChatResult(
            generations=[ChatGeneration(message=AIMessage(text, usage_metadata=usage))]
        )


@needs_bwrap
async def test_every_model_call_is_in_the_bank_and_exported_on_request(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    teacher = Scripted(replies=["I am not JSON", json.dumps(DRAFT)])
    student = Scripted(replies=[SOLUTION])
    models = {"openai:teacher": teacher, "openai:student": student}
    monkeypatch.setattr(
        "stepstones.agents.build.get_chat_model", lambda spec, settings=None: models[spec]
    )
    ctx = RunContext(
        teacher="openai:teacher",
        students=["openai:student", "sim:novice"],
        samples=2,
        concurrency=1,
        seeds=SeedConfig(source="puzzles"),
        critic=CriticConfig(decontaminate=False),
        budget=Budget(max_seeds=1, max_turns_per_seed=1, max_repairs=1),
        bands=[Band(name="all", lo=0.0, hi=1.0, quota=1)],
    )
    out = tmp_path / "run"
    result = await run_pipeline(ctx, out, run_id="r")
    assert result.report["problems"]["valid"] == 1

    bank = Bank(out / "bank.sqlite")
    try:
        calls = bank.calls("r")
    finally:
        bank.close()
    by_agent = {a: [c for c in calls if c.agent == a] for a in ("teacher", "student")}
    bad, good = by_agent["teacher"]
    assert (bad.outcome, good.outcome) == ("unusable", "ok")
    assert bad.replies == ["I am not JSON"] and "JSON" in (bad.error or "")
    # the repair call carries the bad reply and asks again: what the model was really given
    assert [m["role"] for m in good.messages][-2:] == ["ai", "human"]
    assert good.messages[-2]["content"] == "I am not JSON"
    assert good.replies == [json.dumps(DRAFT)] and good.input_tokens == 11
    assert all(
        c.model == "openai:teacher" and c.latency_s >= 0 and c.at > 0 for c in by_agent["teacher"]
    )
    (solve,) = by_agent["student"]
    assert solve.outcome == "ok" and solve.replies == [SOLUTION, SOLUTION]
    assert "sorted" in solve.messages[-1]["content"]  # the task prompt the student saw

    from stepstones.cli import _register_commands, app

    _register_commands()
    done = CliRunner().invoke(
        app,
        [
            "export",
            "--bank",
            str(out / "bank.sqlite"),
            "--out",
            str(tmp_path / "data"),
            "--no-decontam",
            "--include-unbanded",
            "--calls",
        ],
    )
    assert done.exit_code == 0, done.output
    lines = (tmp_path / "data" / "model_calls.jsonl").read_text().splitlines()
    assert [json.loads(line)["outcome"] for line in lines] == [c.outcome for c in calls]
