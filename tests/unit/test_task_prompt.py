"""The exported RL prompt is the prompt the pass rates were measured with (issue 16, item 5).

A policy trained on one prompt and banded on another has mislabelled difficulty. The run's
student and the export both render `tools/task_prompt.py`; these tests catch the messages a
real LLMStudent sends to its chat model and compare them with the rows the export writes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import FakeMessagesListChatModel
from langchain_core.messages import AIMessage, BaseMessage

from stepstones.agents.models import ModelSettings
from stepstones.agents.student import LLMStudent
from stepstones.tools.export import export_run
from stepstones.tools.schema import IOStyle, Lineage, Problem, TestCase
from stepstones.tools.store import Bank


class Recording(FakeMessagesListChatModel):
    """Answers one fixed reply and keeps every prompt it was sent."""

    seen: list[list[BaseMessage]] = []  # noqa: RUF012 (pydantic field, one list per instance)

    def _generate(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> Any:
        self.seen.append(list(messages))
        return super()._generate(messages, *args, **kwargs)


def problem(io_style: IOStyle) -> Problem:
    if io_style == "stdio":
        tests = [TestCase(input="3\n", expected="6\n"), TestCase(input="5\n", expected="10\n")]
        reference = "print(int(input()) * 2)\n"
    else:
        tests = [TestCase(input="[3]", expected="6"), TestCase(input="[5]", expected="10")]
        reference = "def solve(x):\n    return x * 2\n"
    return Problem(
        title="Double",
        statement="Double the number.",
        entry_point="solve",
        tests=tests,
        reference_solution=reference,
        io_style=io_style,
        band="all",
        pass_rate=0.5,
        pass_rates={"llm": 0.5},
        lineage=Lineage(seed_id="s", direction="seed"),
    )


@pytest.mark.parametrize("io_style", ["function", "stdio"])
async def test_the_exported_prompt_is_the_prompt_the_student_was_given(
    tmp_path: Path, io_style: IOStyle
) -> None:
    p = problem(io_style)
    model = Recording(responses=[AIMessage("```python\npass\n```")], seen=[])
    student = LLMStudent("llm", model, ModelSettings(max_retries=0))
    await student.solve(p, 1)
    (sent,) = model.seen
    given = [{"role": {"human": "user"}.get(m.type, m.type), "content": m.content} for m in sent]

    bank = Bank(tmp_path / "bank.sqlite")
    try:
        bank.start_run("r", {"bands": [{"name": "all", "lo": 0.0, "hi": 1.0, "quota": 1}]})
        bank.put_problem("r", "lin", p, valid=True)
        bank.finish_run("r", "finished", {})
        export_run(bank, tmp_path / "out", fmt="jsonl", benchmark=None, schedule_name="lineage")
    finally:
        bank.close()
    (row,) = [json.loads(line) for line in (tmp_path / "out" / "train.jsonl").open()]
    assert row["prompt"] == given
    assert [m["role"] for m in given] == ["system", "user"]
    user = given[1]["content"]
    assert p.tests[0].input.strip() in user and p.tests[0].expected.strip() in user
    if io_style == "stdio":
        assert "standard input" in user and "positional arguments" not in user
    else:
        assert "positional arguments" in user and "`solve`" in user
