"""Runs in every environment: the graph treats them alike, and every gold answer is executed.

Offline (procedural teacher, simulated students) a run over all five environments bands
problems of each; an LLM teacher (a scripted chat model) writes each environment's drafts, and
its programs, never its claims, give the gold answers.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from typer.testing import CliRunner

from stepstones.agents.student import parse_simulated
from stepstones.agents.teacher import LLMTeacher
from stepstones.evals.openai_standin import OpenAIStandin
from stepstones.evals.standin_replies import DRAFTS, fenced_reply
from stepstones.graphs import build_graph
from stepstones.graphs.bands import Band
from stepstones.graphs.context import Budget, CriticConfig, RunContext, SeedConfig
from stepstones.runner import run_pipeline
from stepstones.tools.environments import ENVIRONMENT_NAMES, get_environment
from stepstones.tools.environments.fenced import tags as fence_tags
from stepstones.tools.schema import Seed
from stepstones.tools.store import Bank
from tests.conftest import needs_bwrap
from tests.fakes import always_wrong
from tests.integration.test_call_log import Scripted


def llm_context(tmp_path: Path, environment: str) -> RunContext:
    return RunContext(
        bank=str(tmp_path / "bank.sqlite"),
        samples=4,
        concurrency=1,
        seeds=SeedConfig(source="puzzles"),
        critic=CriticConfig(decontaminate=False),
        environments={environment: 1.0},
        budget=Budget(max_seeds=1, max_turns_per_seed=1, max_repairs=1),
        bands=[Band(name="all", lo=0.0, hi=1.0, quota=1)],
    )


async def run_llm_teacher(
    tmp_path: Path, sandbox: Any, environment: str, replies: list[str]
) -> dict[str, Any]:
    bank = Bank(tmp_path / "bank.sqlite")
    graph = build_graph(
        checkpointer=InMemorySaver(),
        teacher=LLMTeacher("scripted", Scripted(replies=replies)),
        students=[parse_simulated("sim:expert"), always_wrong()],
        sandbox=sandbox,
        bank=bank,
    )
    config = {"configurable": {"thread_id": "t"}, "recursion_limit": 200}
    seed = Seed(id="s0", kind="puzzle", text="numbers")
    await graph.ainvoke(
        {"run_id": "r", "seeds": [seed]}, config, context=llm_context(tmp_path, environment)
    )
    return {"state": (await graph.aget_state(config)).values, "bank": bank}


@needs_bwrap
@pytest.mark.parametrize("environment", ENVIRONMENT_NAMES)
async def test_an_llm_teachers_draft_becomes_a_problem_with_executed_gold(
    tmp_path: Path, sandbox: Any, environment: str
) -> None:
    got = await run_llm_teacher(tmp_path, sandbox, environment, [json.dumps(DRAFTS[environment])])
    (problem,) = got["bank"].problems("r")
    assert problem.environment == environment and problem.band == "all"
    # the gold answers are what running the programs gives now, deterministically
    assert await get_environment(environment).validate(problem, sandbox) == []
    if environment == "deduction":
        assert problem.spec["output"] == [1, 9, 25]  # f(7), which no draft stated
    if environment == "code":
        assert [t.expected for t in problem.tests][:2] == ["[1, 2, 3]", "[]"]
    attempts = got["bank"].attempts("r")
    assert {a.student for a in attempts} == {"sim:expert", "wrong"}
    assert all(a.verdict.status != "sandbox_error" for a in attempts)


@needs_bwrap
async def test_a_draft_that_states_outputs_or_whose_program_fails_is_a_recorded_rejection(
    tmp_path: Path, sandbox: Any
) -> None:
    claims = {**DRAFTS["code"], "tests": [{"args": [[3, 1, 2]], "expected": [3, 2, 1]}]}
    broken = {**DRAFTS["deduction"], "program": "def f(n):\n    return 1 // (n - 7)\n"}
    got = await run_llm_teacher(tmp_path, sandbox, "code", [json.dumps(claims)] * 3)
    assert list(got["bank"].problems("r")) == []
    assert {c for r in got["bank"].rejections("r") for c in r["codes"]} == {"malformed"}

    got = await run_llm_teacher(tmp_path / "b", sandbox, "deduction", [json.dumps(broken)] * 3)
    assert list(got["bank"].problems("r")) == []
    (first, *_) = got["bank"].rejections("r")
    assert first["codes"] == ["reference_fails"] and "ZeroDivisionError" in first["feedback"]


@needs_bwrap
@pytest.mark.parametrize("environment", ENVIRONMENT_NAMES)
async def test_a_teacher_on_an_openai_endpoint_writes_each_environment_in_fenced_blocks(
    tmp_path: Path, environment: str
) -> None:
    """The OpenAI-compatible path end to end: the teacher's system prompt names the blocks of
    the environment, its fenced reply becomes a problem whose gold answers are executed."""
    draft = get_environment(environment).draft_model.model_validate(DRAFTS[environment])
    reply = fenced_reply(environment, DRAFTS[environment])
    with OpenAIStandin(reply=reply) as server:
        ctx = llm_context(tmp_path, environment).model_copy(
            update={"teacher": f"vllm:standin@{server.base_url}", "students": ["sim:expert"]}
        )
        result = await run_pipeline(ctx, tmp_path / "run", run_id="r")
        asked = [
            r
            for r in server.requests
            if any("You are the teacher" in str(m.get("content")) for m in r["messages"])
        ]
    assert result.stop_reason in ("quotas_filled", "seeds_exhausted"), result.stop_reason
    system = asked[-1]["messages"][0]["content"]
    assert all(f"```{tag}" in system for tag in fence_tags(type(draft))), system
    bank = Bank(tmp_path / "run" / "bank.sqlite")
    try:
        problems = list(bank.problems("r"))
        assert len(problems) == 1, bank.rejections("r")
        (problem,) = problems
        assert problem.environment == environment and problem.tests
        assert (
            problem.reference_solution.strip()
            == getattr(draft, "program", getattr(draft, "reference_solution", "")).strip()
        )
    finally:
        bank.close()


@needs_bwrap
async def test_an_offline_run_over_every_environment_bands_each_by_execution(
    tmp_path: Path, sandbox: Any
) -> None:
    ctx = RunContext(
        environments={e: 1.0 for e in ENVIRONMENT_NAMES},
        seed=1,
        critic=CriticConfig(decontaminate=False),
        bands=[
            Band(name="hard", lo=0.05, hi=0.4, quota=5),
            Band(name="medium", lo=0.4, hi=0.7, quota=8),
            Band(name="easy", lo=0.7, hi=0.95, quota=8),
        ],
    )
    result = await run_pipeline(ctx, tmp_path / "run", run_id="r")
    assert result.stop_reason == "quotas_filled"
    bank = Bank(tmp_path / "run" / "bank.sqlite")
    try:
        problems = list(bank.problems("r"))
        by_env: dict[str, list[Any]] = {}
        for p in problems:
            by_env.setdefault(p.environment, []).append(p)
        assert set(by_env) == set(ENVIRONMENT_NAMES), sorted(by_env)
        for env, some in by_env.items():
            if env == "code":
                continue  # the family's own reference run (the golden test pins those)
            for p in some[:2]:
                assert await get_environment(env).validate(p, sandbox) == [], (env, p.id)
        statuses = {a.verdict.status for a in bank.attempts("r")}
        assert "passed" in statuses and "wrong_answer" in statuses
    finally:
        bank.close()


def test_an_unknown_environment_is_one_clear_line(tmp_path: Path) -> None:
    from stepstones.cli import _register_commands, app

    _register_commands()
    done = CliRunner().invoke(
        app, ["run", "--out", str(tmp_path / "o"), "--quiet", "--environments", "code,poetry"]
    )
    assert done.exit_code == 2
    assert "unknown environment 'poetry'" in done.output and not (tmp_path / "o").exists()


@needs_bwrap
async def test_a_registered_environment_runs_without_touching_the_graph(
    tmp_path: Path, sandbox: Any
) -> None:
    from stepstones.tools.environments import ENVIRONMENTS, register
    from stepstones.tools.environments.deduction import DeductionEnvironment

    class Tracing(DeductionEnvironment):
        """A user's own environment: deduction under another name and task wording."""

        name = "tracing"

        def task_prompt(self, problem: Any) -> str:
            return "Trace this by hand.\n" + super().task_prompt(problem)

    register(Tracing())
    try:
        got = await run_llm_teacher(tmp_path, sandbox, "tracing", [json.dumps(DRAFTS["deduction"])])
        (problem,) = got["bank"].problems("r")
        assert problem.environment == "tracing" and problem.spec["output"] == [1, 9, 25]
        from stepstones.tools.task_prompt import task_messages

        assert task_messages(problem)[-1]["content"].startswith("Trace this by hand.")
        assert any(a.verdict.ok for a in got["bank"].attempts("r"))
    finally:
        ENVIRONMENTS.pop("tracing", None)
