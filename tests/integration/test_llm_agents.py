"""The LLM teacher and student on langchain-core fake chat models, malformed replies too."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langgraph.checkpoint.memory import InMemorySaver

from stepstones.agents.models import ModelSettings
from stepstones.agents.student import LLMStudent
from stepstones.agents.summarizer import summarize
from stepstones.agents.teacher import LLMTeacher, TeacherRequest
from stepstones.graphs import build_graph
from stepstones.graphs.bands import Band
from stepstones.graphs.context import Budget, CriticConfig, RunContext, SeedConfig
from stepstones.tools.environments import CODE
from stepstones.tools.schema import Critique, Rejection, Seed
from stepstones.tools.store import Bank
from tests.fakes import always_wrong, make_problem

DRAFT = {
    "title": "Sort a list",
    "statement": "Given a list of integers xs, return it sorted in ascending order. solve(xs).",
    "entry_point": "solve",
    "inputs": [[[3, 1, 2]], [[]], [[2, 2, 1]], [[-5, 9, 0]]],
    "reference_solution": "def solve(xs):\n    return sorted(xs)\n",
}
"""A code draft as the teacher writes it: inputs only, the sandbox computes the outputs."""
SEED = Seed(id="s0", kind="puzzle", text="sort things")


def request(**kw) -> TeacherRequest:
    return TeacherRequest(
        **{"seed": SEED, "lineage_id": "L0", "turn": 0, "direction": "seed", **kw}
    )


async def test_teacher_parses_a_fenced_reply_with_prose_around_it():
    reply = "Here is the problem:\n```json\n" + json.dumps(DRAFT) + "\n```\nEnjoy."
    result = await LLMTeacher("fake", FakeListChatModel(responses=[reply])).write(request())
    assert result.draft is not None, result.failure
    assert result.problem is None  # no gold answers until the sandbox has run the reference
    assert result.draft.inputs[0] == [[3, 1, 2]] and result.environment == "code"


async def test_teacher_gets_one_repair_for_a_malformed_reply():
    model = FakeListChatModel(responses=['{"title": "Sort", "statement": ', json.dumps(DRAFT)])
    result = await LLMTeacher("fake", model).write(request())
    assert result.draft is not None and result.draft.title == "Sort a list"


async def test_teacher_failure_after_the_repair_is_a_reason_not_a_crash():
    bad = {**DRAFT, "inputs": "three tests"}
    model = FakeListChatModel(responses=["I cannot do that.", json.dumps(bad)])
    result = await LLMTeacher("fake", model).write(request())
    assert result.problem is None and result.draft is None and result.failure
    assert "inputs" in result.failure


def test_refine_prompt_carries_the_summary_and_direction_and_repair_the_critique():
    parent = make_problem()
    summary = summarize(parent, [], ["s"])
    teacher = LLMTeacher("fake", FakeListChatModel(responses=["x"]))
    text = teacher.prompt(request(parent=parent, summary=summary, direction="harder", turn=1))
    assert "harder" in text and summary.text in text and parent.statement in text
    critique = Critique(valid=False, rejections=[Rejection(code="weak_tests", message="add X")])
    text = teacher.prompt(request(rejected=parent, critique=critique, attempt=1))
    assert "[weak_tests] add X" in text


@pytest.mark.parametrize("reply_format", ["fenced", "json"])
async def test_a_reply_that_copies_the_parent_as_shown_is_a_valid_problem(sandbox, reply_format):
    """The refine prompt shows the parent in the schema the teacher must write (it used to show
    the sandbox's {"input": "<json string>"} while the system prompt asked for {"args": [...]})."""
    parent = make_problem()
    teacher = LLMTeacher("fake", FakeListChatModel(responses=["x"]), reply_format=reply_format)
    text = teacher.prompt(
        request(parent=parent, summary=summarize(parent, [], ["s"]), direction="harder", turn=1)
    )
    shown = text.split("Students attempted this problem:\n\n", 1)[1].split("\n\nHow they", 1)[0]
    assert shown.startswith("```json\n" if reply_format == "json" else "```title\n")
    copier = LLMTeacher("fake", FakeListChatModel(responses=[shown]), reply_format=reply_format)
    result = await copier.write(request(parent=parent, direction="harder", turn=1))
    assert result.draft is not None, result.failure
    built = await CODE.build(result.draft, parent.lineage, sandbox)
    assert not isinstance(built, list), built
    assert built.tests == parent.tests[:12]  # the shown inputs, their outputs executed again
    assert built.reference_solution == parent.reference_solution


def test_the_repair_of_an_unparseable_reply_shows_the_seed_and_the_reply():
    critique = Critique(
        valid=False,
        rejections=[
            Rejection(code="malformed", message="the reply was not a usable problem: no JSON")
        ],
    )
    teacher = LLMTeacher("fake", FakeListChatModel(responses=["x"]))
    text = teacher.prompt(
        request(critique=critique, attempt=1, rejected_reply="Let me think... def solve(xs): ...")
    )
    assert SEED.text in text and "Let me think... def solve(xs)" in text
    assert "[malformed]" in text and "(unparseable)" not in text


def test_the_refine_prompt_names_the_target_pass_rate_range():
    parent = make_problem()
    teacher = LLMTeacher("fake", FakeListChatModel(responses=["x"]))
    text = teacher.prompt(
        request(
            parent=parent,
            summary=summarize(parent, [], ["s"]),
            direction="harder",
            turn=1,
            target=(0.41, 0.59),
        )
    )
    assert "between 0.41 and 0.59" in text


async def test_student_extracts_code_from_each_sample_and_none_when_there_is_none():
    replies = ["```python\ndef solve(xs):\n    return sorted(xs)\n```", "Sorry, no idea."]
    student = LLMStudent("fake", FakeListChatModel(responses=replies), ModelSettings())
    solutions = await student.solve(make_problem(), 2)
    codes = sorted((s.code is None, s.code) for s in solutions)
    assert codes[0][1] is not None and "sorted" in codes[0][1]
    assert codes[1][1] is None


async def test_graph_runs_with_llm_teacher_and_student_including_a_malformed_draft(
    tmp_path: Path, sandbox
):
    teacher_model = FakeListChatModel(responses=["garbage", "more garbage", json.dumps(DRAFT)])
    student_model = FakeListChatModel(
        responses=["```python\ndef solve(xs):\n    return sorted(xs)\n```"]
    )
    ctx = RunContext(
        bank=str(tmp_path / "bank.sqlite"),
        samples=2,
        concurrency=1,
        seeds=SeedConfig(source="puzzles"),
        critic=CriticConfig(decontaminate=False),
        budget=Budget(max_seeds=1, max_turns_per_seed=1),
        bands=[Band(name="all", lo=0.0, hi=1.0, quota=3)],
    )
    bank = Bank(ctx.bank)
    students = [LLMStudent("llm", student_model, ModelSettings()), always_wrong()]
    graph = build_graph(
        checkpointer=InMemorySaver(),
        teacher=LLMTeacher("fake", teacher_model),
        students=students,
        sandbox=sandbox,
        bank=bank,
    )
    config = {"configurable": {"thread_id": "t"}}
    await graph.ainvoke({"run_id": "r", "seeds": [SEED]}, config, context=ctx)
    (outcome,) = (await graph.aget_state(config)).values["outcomes"]
    # Three requests: the first draft, its JSON repair (both garbage), then the second draft.
    assert outcome.valid and outcome.teacher_calls == 3 and outcome.pass_rate == 0.5
    assert bank.rejections("r")[0]["codes"] == ["malformed"]
    attempts = list(bank.attempts("r"))
    assert {a.student for a in attempts} == {"llm", "wrong"}
    assert all(a.verdict.ok for a in attempts if a.student == "llm")


async def test_llm_summarizer_adds_its_reading_and_keeps_the_numbers():
    from stepstones.agents.summarizer import LLMSummarizer

    problem = make_problem()
    summary = summarize(problem, [], ["s"])
    reply = json.dumps({"analysis": "they forget empty lists", "suggestions": ["add negatives"]})
    notes = await LLMSummarizer("fake", FakeListChatModel(responses=[reply])).annotate(
        problem, [], summary
    )
    assert notes.pass_rate == summary.pass_rate and notes.students == summary.students
    assert notes.text.startswith(summary.text)
    assert "they forget empty lists" in notes.text and "add negatives" in notes.text
    broken = LLMSummarizer("fake", FakeListChatModel(responses=["no", "still no"]))
    assert (await broken.annotate(problem, [], summary)) == summary


async def test_the_teacher_reads_the_llm_summarizers_analysis(tmp_path: Path, sandbox):
    from stepstones.agents.summarizer import LLMSummarizer
    from tests.fakes import ScriptedTeacher, always_right
    from tests.integration.test_graph_routing import task

    reply = json.dumps({"analysis": "ANALYSIS-MARKER", "suggestions": []})
    teacher = ScriptedTeacher(lambda r: task(r.turn))
    ctx = RunContext(
        bank=str(tmp_path / "bank.sqlite"),
        samples=2,
        concurrency=1,
        seeds=SeedConfig(source="puzzles"),
        critic=CriticConfig(decontaminate=False),
        budget=Budget(max_seeds=1, max_turns_per_seed=2),
        bands=[Band(name="all", lo=0.0, hi=1.0, quota=5)],
    )
    graph = build_graph(
        checkpointer=InMemorySaver(),
        teacher=teacher,
        students=[always_right(), always_wrong()],
        sandbox=sandbox,
        bank=Bank(ctx.bank),
        summarizer=LLMSummarizer("fake", FakeListChatModel(responses=[reply])),
    )
    await graph.ainvoke(
        {"run_id": "r", "seeds": [SEED]}, {"configurable": {"thread_id": "t"}}, context=ctx
    )
    assert "ANALYSIS-MARKER" in teacher.requests[1].summary.text


async def test_the_graph_quotes_an_unparseable_draft_back_in_its_repair(tmp_path: Path, sandbox):
    seen: list[str] = []

    class Recording(FakeListChatModel):
        def _call(self, messages, *args, **kwargs):  # type: ignore[no-untyped-def]
            seen.append(str(messages[-1].content))
            return super()._call(messages, *args, **kwargs)

    teacher_model = Recording(responses=["garbage", "more garbage", json.dumps(DRAFT)])
    ctx = RunContext(
        bank=str(tmp_path / "bank.sqlite"),
        samples=1,
        concurrency=1,
        seeds=SeedConfig(source="puzzles"),
        critic=CriticConfig(decontaminate=False),
        budget=Budget(max_seeds=1, max_turns_per_seed=1),
        bands=[Band(name="all", lo=0.0, hi=1.0, quota=3)],
    )
    graph = build_graph(
        checkpointer=InMemorySaver(),
        teacher=LLMTeacher("fake", teacher_model),
        students=[always_wrong()],
        sandbox=sandbox,
        bank=Bank(ctx.bank),
    )
    await graph.ainvoke(
        {"run_id": "r", "seeds": [SEED]}, {"configurable": {"thread_id": "t"}}, context=ctx
    )
    repair = seen[2]  # after the draft and parsing's own repair request
    assert "more garbage" in repair and SEED.text in repair and "[malformed]" in repair
