"""What a model replies can never crash a run or pass unseen, and every call obeys the settings.

Lone surrogates (a reply that is not valid Unicode), critic replies that cannot be read, and
teacher and critic calls under the run's timeout, retries and teacher-call budget.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from langchain_core.language_models import BaseChatModel
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langgraph.checkpoint.memory import InMemorySaver
from pydantic import Field

from stepstones.agents.models import ModelSettings
from stepstones.agents.student import LLMStudent
from stepstones.agents.teacher import LLMTeacher
from stepstones.graphs import build_graph
from stepstones.graphs.bands import Band
from stepstones.graphs.context import Budget, CriticConfig, RunContext, SeedConfig
from stepstones.tools.store import Bank
from tests.fakes import always_right, always_wrong
from tests.integration.test_graph_routing import TASKS
from tests.integration.test_llm_agents import DRAFT, SEED, request

SURROGATE = "\ud800"
RIGHT = "```python\ndef solve(xs):\n    return sorted(xs)\n```"


class CountingModel(BaseChatModel):
    """Replies from a list in turn (cycling) after `delay_s`, or raises `error`."""

    replies: list[str] = Field(default_factory=list)
    delay_s: float = 0.0
    error: str | None = None
    requests: int = 0

    @property
    def _llm_type(self) -> str:
        return "counting"

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any
    ) -> ChatResult:
        raise NotImplementedError

    async def _agenerate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any
    ) -> ChatResult:
        self.requests += 1
        await asyncio.sleep(self.delay_s)
        if self.error is not None:
            raise TimeoutError(self.error)  # transient: retried up to max_retries
        text = self.replies[(self.requests - 1) % len(self.replies)]
        return ChatResult(generations=[ChatGeneration(message=AIMessage(text))])


def context(tmp_path: Path, **kw: Any) -> RunContext:
    base: dict[str, Any] = dict(
        bank=str(tmp_path / "bank.sqlite"),
        samples=2,
        concurrency=1,
        seeds=SeedConfig(source="puzzles"),
        critic=CriticConfig(decontaminate=False, model="openai:critic"),
        budget=Budget(max_seeds=1, max_turns_per_seed=1, max_repairs=1),
        bands=[Band(name="all", lo=0.0, hi=1.0, quota=3)],
    )
    base.update(kw)
    return RunContext(**base)


async def run_graph(
    ctx: RunContext,
    sandbox: Any,
    teacher: Any,
    students: list[Any],
    critic_model: BaseChatModel,
    monkeypatch: pytest.MonkeyPatch,
) -> dict[str, Any]:
    monkeypatch.setattr(
        "stepstones.graphs.components.build_chat_model",
        lambda spec, settings=None: critic_model if spec else None,
    )
    bank = Bank(ctx.bank)
    graph = build_graph(
        checkpointer=InMemorySaver(), teacher=teacher, students=students, sandbox=sandbox, bank=bank
    )
    config = {"configurable": {"thread_id": "t"}, "recursion_limit": 200}
    await graph.ainvoke({"run_id": "r", "seeds": [SEED]}, config, context=ctx)
    return {"state": (await graph.aget_state(config)).values, "bank": bank}


async def test_lone_surrogates_in_every_reply_are_replaced_and_the_run_finishes(
    tmp_path: Path, sandbox: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The teacher's JSON escapes one (json.loads makes it a lone surrogate); the student and
    # the critic send one raw.
    draft = json.dumps({**DRAFT, "title": "Sort \\ud800 a list"}).replace("\\\\ud800", "\\ud800")
    teacher = LLMTeacher("fake", FakeListChatModel(responses=[draft]))
    student = LLMStudent(
        "llm", FakeListChatModel(responses=[f"{SURROGATE} {RIGHT}"]), ModelSettings()
    )
    critic_model = FakeListChatModel(responses=[SURROGATE + json.dumps({"valid": True})])
    got = await run_graph(
        context(tmp_path), sandbox, teacher, [student, always_wrong()], critic_model, monkeypatch
    )
    (outcome,) = got["state"]["outcomes"]
    assert outcome.valid
    (problem,) = got["bank"].problems("r")
    assert problem.title == "Sort \ufffd a list"
    raws = [a.raw for a in got["bank"].attempts("r") if a.student == "llm"]
    assert raws and all(r.startswith("\ufffd ") for r in raws)


async def test_unusable_critic_replies_are_counted_rejections_not_valid_problems(
    tmp_path: Path, sandbox: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    teacher = LLMTeacher("fake", FakeListChatModel(responses=[json.dumps(DRAFT)]))
    students = [
        LLMStudent("llm", FakeListChatModel(responses=[RIGHT]), ModelSettings()),
        always_wrong(),
    ]
    critic_model = FakeListChatModel(responses=["I would rather not say."])
    got = await run_graph(context(tmp_path), sandbox, teacher, students, critic_model, monkeypatch)
    assert not [o for o in got["state"]["outcomes"] if o.valid]
    assert list(got["bank"].problems("r")) == []
    report = got["state"]["report"]
    assert report["problems"]["valid"] == 0
    assert report["rejections_by_reason"]["critic_unusable"] == 2  # the draft and its repair
    assert all(r["codes"] == ["critic_unusable"] for r in got["bank"].rejections("r"))


async def test_teacher_calls_obey_the_runs_retries_and_timeout() -> None:
    failing = CountingModel(error="upstream timed out")
    settings = ModelSettings(max_retries=0, timeout_s=5)
    teacher = LLMTeacher("fake", failing, settings=settings)
    for _ in range(3):
        result = await teacher.write(request())
        assert result.problem is None
    assert failing.requests == 3  # not 3 x (1 + ModelSettings()'s 3 retries)

    slow = CountingModel(replies=[json.dumps(DRAFT)], delay_s=5)
    started = asyncio.get_running_loop().time()
    result = await LLMTeacher(
        "fake", slow, settings=ModelSettings(timeout_s=0.2, max_retries=0)
    ).write(request())
    assert result.problem is None and "timeout after 0.2s" in (result.failure or "")
    assert asyncio.get_running_loop().time() - started < 2


async def test_the_critics_review_obeys_the_runs_timeout(sandbox: Any) -> None:
    from stepstones.agents.critic import Critic
    from stepstones.tools.dedup import NearDupIndex
    from stepstones.tools.sandbox.base import SandboxConfig
    from tests.fakes import make_problem

    slow = CountingModel(replies=[json.dumps({"valid": True})], delay_s=5)
    critic = Critic(
        sandbox,
        SandboxConfig(),
        benchmark=False,
        model=slow,
        settings=ModelSettings(timeout_s=0.2, max_retries=0),
    )
    critique = await asyncio.wait_for(critic.review(make_problem(), NearDupIndex()), 4)
    assert not critique.valid and critique.rejections[0].code == "critic_unusable"
    assert slow.requests == 1


def draft(i: int) -> str:
    statement, reference, cases = TASKS[i]
    return json.dumps(
        {
            "title": f"task {i}",
            "statement": statement + " solve(xs).",
            "entry_point": "solve",
            "reference_solution": reference,
            "inputs": [a for a, _ in cases],
        }
    )


async def test_a_json_repair_counts_against_the_teacher_call_budget(
    tmp_path: Path, sandbox: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every draft (each a different task) needs its repair: 2 requests per problem.
    replies = [r for i in range(4) for r in ("not JSON", draft(i))]
    model = CountingModel(replies=replies)
    ctx = context(
        tmp_path,
        critic=CriticConfig(decontaminate=False),
        budget=Budget(max_seeds=1, max_turns_per_seed=10, max_teacher_calls=4),
        bands=[Band(name="all", lo=0.0, hi=1.0, quota=10)],
    )
    got = await run_graph(
        ctx,
        sandbox,
        LLMTeacher("fake", model),
        [always_right(), always_wrong()],
        model,
        monkeypatch,
    )
    assert model.requests == 4  # the budget, not 4 writes of 2 requests each
    outcomes = got["state"]["outcomes"]
    assert [o.teacher_calls for o in outcomes] == [2, 2]
    assert got["state"]["report"]["teacher_calls"] == 4
