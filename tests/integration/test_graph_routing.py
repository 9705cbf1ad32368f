"""Every edge of the curriculum graph, forced with a scripted teacher and scripted students.

The sandbox is the real local one: a scripted student's code still runs and is judged there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from langgraph.checkpoint.memory import InMemorySaver

from stepstones.graphs import build_graph
from stepstones.graphs.bands import Band
from stepstones.graphs.context import Budget, CriticConfig, RunContext, SeedConfig
from stepstones.tools.schema import Seed
from stepstones.tools.store import Bank
from tests.fakes import ScriptedStudent, ScriptedTeacher, always_right, always_wrong, make_problem

# Distinct small tasks, so consecutive turns are never near-duplicates of each other.
TASKS: list[tuple[str, str, list[tuple[list[Any], Any]]]] = [
    (
        "Return the list sorted in ascending order.",
        "def solve(xs):\n    return sorted(xs)\n",
        [
            ([[3, 1, 2]], [1, 2, 3]),
            ([[]], []),
            ([[2, 2, 1]], [1, 2, 2]),
            ([[-1, 4, 0]], [-1, 0, 4]),
        ],
    ),
    (
        "Return the sum of the squares of the numbers.",
        "def solve(xs):\n    total = 0\n    for x in xs:\n        total += x * x\n"
        "    return total\n",
        [([[1, 2]], 5), ([[]], 0), ([[3]], 9), ([[-2, 2, 1]], 9)],
    ),
    (
        "Return how many numbers in the list are even.",
        "def solve(xs):\n    return len([x for x in xs if x % 2 == 0])\n",
        [([[1, 2, 4]], 2), ([[]], 0), ([[3, 5]], 0), ([[0, -2, 7]], 2)],
    ),
    (
        "Return the largest gap between two neighbouring numbers (0 for fewer than two).",
        "def solve(xs):\n    best = 0\n    for a, b in zip(xs, xs[1:]):\n"
        "        best = max(best, abs(a - b))\n    return best\n",
        [([[1, 5, 2]], 4), ([[]], 0), ([[7]], 0), ([[3, 3, 10]], 7)],
    ),
    (
        "Return the string made of the first letter of every word, upper-cased.",
        "def solve(xs):\n    return ''.join(w[0].upper() for w in xs.split())\n",
        [(["hello big world"], "HBW"), ([""], ""), (["a"], "A"), (["x  y"], "XY")],
    ),
    (
        "Return the list with every run of equal neighbours collapsed to one element.",
        "def solve(xs):\n    out = []\n    for x in xs:\n        if not out or out[-1] != x:\n"
        "            out.append(x)\n    return out\n",
        [([[1, 1, 2, 1]], [1, 2, 1]), ([[]], []), ([[4, 4, 4]], [4]), ([[1, 2]], [1, 2])],
    ),
]


def task(i: int, broken: bool = False) -> Any:
    statement, reference, cases = TASKS[i % len(TASKS)]
    if broken:
        reference = "def solve(xs):\n    return xs\n"
    return make_problem(reference, cases, statement=statement + " solve(xs).")


def context(tmp_path: Path, **kw: Any) -> RunContext:
    base: dict[str, Any] = {
        "bank": str(tmp_path / "bank.sqlite"),
        "samples": 2,
        "concurrency": 1,
        "seeds": SeedConfig(source="puzzles"),
        "critic": CriticConfig(decontaminate=False),
        "budget": Budget(max_seeds=1, max_turns_per_seed=3, max_repairs=2),
        "bands": [Band(name="all", lo=0.0, hi=1.0, quota=5)],
    }
    base.update(kw)
    return RunContext(**base)


async def run(
    ctx: RunContext,
    sandbox: Any,
    teacher: Any,
    students: list[Any],
    seeds: list[Seed] | None = None,
) -> dict[str, Any]:
    bank = Bank(ctx.bank)
    graph = build_graph(
        checkpointer=InMemorySaver(), teacher=teacher, students=students, sandbox=sandbox, bank=bank
    )
    config = {"configurable": {"thread_id": "t"}, "recursion_limit": 500}
    inputs: dict[str, Any] = {"run_id": "r"} if seeds is None else {"run_id": "r", "seeds": seeds}
    await graph.ainvoke(inputs, config, context=ctx)
    state = (await graph.aget_state(config)).values
    return {"state": state, "bank": bank}


SEEDS = [Seed(id=f"s{i}", kind="puzzle", text=f"puzzle {i}") for i in range(3)]


async def test_invalid_draft_is_repaired_with_the_critics_reasons(tmp_path, sandbox):
    teacher = ScriptedTeacher(lambda r: task(0, broken=r.attempt == 0))
    ctx = context(tmp_path, budget=Budget(max_seeds=1, max_turns_per_seed=1))
    out = await run(ctx, sandbox, teacher, [always_right(), always_wrong()])
    assert [r.attempt for r in teacher.requests] == [0, 1]
    repair = teacher.requests[1]
    assert repair.critique is not None and not repair.critique.valid
    assert "reference_fails" in {r.code for r in repair.critique.rejections}
    assert "expected" in repair.critique.rejections[0].message  # actionable: shows a failing test
    outcomes = out["state"]["outcomes"]
    assert len(outcomes) == 1 and outcomes[0].valid and outcomes[0].teacher_calls == 2
    assert out["bank"].rejections("r")[0]["codes"] == ["reference_fails"]


async def test_draft_still_invalid_after_max_repairs_is_discarded(tmp_path, sandbox):
    teacher = ScriptedTeacher(lambda r: task(r.attempt, broken=True))
    ctx = context(tmp_path, budget=Budget(max_seeds=1, max_turns_per_seed=3, max_repairs=2))
    out = await run(ctx, sandbox, teacher, [always_right()])
    assert len(teacher.requests) == 3  # first draft + 2 repairs
    (outcome,) = out["state"]["outcomes"]
    assert outcome.discarded and not outcome.valid
    assert {r.code for r in outcome.rejections} == {"reference_fails"}
    lineage = next(iter(out["state"]["lineages"].values()))
    assert lineage.stop_reason == "discarded"
    assert out["state"]["stop_reason"] == "seeds_exhausted"


async def test_unparseable_draft_is_a_malformed_rejection_then_repaired(tmp_path, sandbox):
    teacher = ScriptedTeacher(lambda r: None if r.attempt == 0 else task(0))
    ctx = context(tmp_path, budget=Budget(max_seeds=1, max_turns_per_seed=1))
    out = await run(ctx, sandbox, teacher, [always_right(), always_wrong()])
    assert teacher.requests[1].critique.rejections[0].code == "malformed"
    assert out["state"]["outcomes"][0].valid
    assert out["bank"].rejections("r")[0]["codes"] == ["malformed"]


async def test_too_easy_moves_harder_and_too_hard_moves_easier(tmp_path, sandbox):
    # Turn 0 every student passes (too easy), turn 1 nobody does (too hard), turn 2 half do.
    def code(p: Any, i: int) -> str | None:
        turn = TASKS.index(next(t for t in TASKS if p.statement.startswith(t[0])))
        if turn == 0 or (turn == 2 and i == 0):
            return p.reference_solution
        return "def solve(xs):\n    return None\n"

    teacher = ScriptedTeacher(lambda r: task(r.turn))
    ctx = context(tmp_path, budget=Budget(max_seeds=1, max_turns_per_seed=3))
    out = await run(ctx, sandbox, teacher, [ScriptedStudent("s", code)])
    assert [r.direction for r in teacher.requests] == ["seed", "harder", "easier"]
    outcomes = out["state"]["outcomes"]
    assert [o.band for o in outcomes] == ["too_easy", "too_hard", "all"]
    # Each stone links to the one before it: the stepping-stone chain.
    problems = {p.id: p for p in out["bank"].problems("r")}
    chain = [problems[o.problem_id] for o in outcomes]
    assert chain[0].lineage.parent_id is None
    assert chain[1].lineage.parent_id == chain[0].id
    assert chain[2].lineage.parent_id == chain[1].id
    assert chain[2].lineage.root_id == chain[0].id
    assert teacher.requests[1].summary is not None and teacher.requests[1].summary.pass_rate == 1.0


async def test_full_band_sends_the_lineage_to_the_next_seed(tmp_path, sandbox):
    bands = [Band(name="low", lo=0.0, hi=0.5, quota=1), Band(name="high", lo=0.5, hi=1.0, quota=9)]
    teacher = ScriptedTeacher(lambda r: task(r.lineage_index * 3 + r.turn))
    ctx = context(
        tmp_path,
        bands=bands,
        budget=Budget(max_seeds=2, max_turns_per_seed=6, max_teacher_calls=50),
    )
    out = await run(ctx, sandbox, teacher, [always_right(), always_wrong()])
    lineages = sorted(out["state"]["lineages"].values(), key=lambda lin: lin.index)
    assert len(lineages) == 2  # the second seed started once the first lineage stopped
    assert lineages[0].stop_reason == "band_full"
    assert lineages[0].turns == 3  # one turn filled `low`, two more filled nothing open


async def test_spent_teacher_budget_ends_the_run(tmp_path, sandbox):
    teacher = ScriptedTeacher(lambda r: task(r.turn))
    ctx = context(tmp_path, budget=Budget(max_seeds=3, max_turns_per_seed=6, max_teacher_calls=2))
    out = await run(ctx, sandbox, teacher, [always_right(), always_wrong()])
    assert out["state"]["stop_reason"] == "teacher_budget"
    assert len(teacher.requests) == 2
    report = out["state"]["report"]
    assert report["stop_reason"] == "teacher_budget"


async def test_filled_quotas_end_the_run(tmp_path, sandbox):
    teacher = ScriptedTeacher(lambda r: task(r.lineage_index * 3 + r.turn))
    ctx = context(
        tmp_path,
        bands=[Band(name="all", lo=0.0, hi=1.0, quota=2)],
        budget=Budget(max_seeds=3, max_turns_per_seed=6),
    )
    out = await run(ctx, sandbox, teacher, [always_right(), always_wrong()])
    assert out["state"]["stop_reason"] == "quotas_filled"
    assert out["state"]["report"]["bands"]["all"]["filled"]


@pytest.mark.parametrize("seeds", [SEEDS])
async def test_many_lineages_in_flight_each_keep_their_own_chain(tmp_path, sandbox, seeds):
    teacher = ScriptedTeacher(lambda r: task(r.lineage_index * 2 + r.turn))
    # Room for all six stones: a quota of 5 would hold the third lineage's second turn back.
    ctx = context(
        tmp_path,
        concurrency=3,
        bands=[Band(name="all", lo=0.0, hi=1.0, quota=6)],
        budget=Budget(max_seeds=3, max_turns_per_seed=2, max_teacher_calls=50),
    )
    out = await run(ctx, sandbox, teacher, [always_right(), always_wrong()], seeds)
    state, bank = out["state"], out["bank"]
    first_round = [r for r in teacher.requests if r.turn == 0]
    assert {r.seed.id for r in first_round} == {"s0", "s1", "s2"}
    for lin in state["lineages"].values():
        assert lin.turns == 2
        parents = [bank.problem("r", pid).lineage.parent_id for pid in lin.problem_ids]
        assert parents == [None, lin.problem_ids[0]]


async def test_an_exhausted_teacher_ends_the_lineage_without_repairs(tmp_path, sandbox):
    from stepstones.agents.teacher import TeacherResult

    class Exhausting(ScriptedTeacher):
        async def write(self, request):
            if request.turn == 1:
                self.requests.append(request)
                return TeacherResult(exhausted=True, failure="no harder variant left")
            return await super().write(request)

    teacher = Exhausting(lambda r: task(0))
    ctx = context(tmp_path, budget=Budget(max_seeds=1, max_turns_per_seed=4, max_repairs=2))
    out = await run(ctx, sandbox, teacher, [always_right()])
    assert len(teacher.requests) == 2  # the first turn, then one exhausted call: no repairs
    last = out["state"]["outcomes"][-1]
    assert last.discarded and last.teacher_calls == 0
    lineage = next(iter(out["state"]["lineages"].values()))
    assert lineage.stop_reason == "exhausted"


async def _review_run(
    tmp_path: Path, sandbox: Any, answers: list[dict[str, Any]], checkpoints: str = "turn"
) -> Any:
    """Run with human_review on, answering each pending interrupt from `answers` in order."""
    from langgraph.types import Command

    teacher = ScriptedTeacher(lambda r: task(r.attempt))
    ctx = context(
        tmp_path,
        human_review=True,
        checkpoints=checkpoints,
        budget=Budget(max_seeds=1, max_turns_per_seed=1, max_repairs=2),
    )
    bank = Bank(ctx.bank)
    graph = build_graph(
        checkpointer=InMemorySaver(),
        teacher=teacher,
        students=[always_right(), always_wrong()],
        sandbox=sandbox,
        bank=bank,
    )
    config = {"configurable": {"thread_id": "t"}, "recursion_limit": 500}
    questions = []
    payload: Any = {"run_id": "r"}
    for answer in [*answers, None]:
        await graph.ainvoke(payload, config, context=ctx)
        pending = (await graph.aget_state(config)).interrupts
        if not pending:
            break
        assert answer is not None, "more review questions than answers"
        questions.extend(i.value for i in pending)
        payload = Command(resume={i.id: answer for i in pending})
    state = (await graph.aget_state(config)).values
    return {"state": state, "bank": bank, "teacher": teacher, "questions": questions}


@pytest.mark.parametrize("checkpoints", ["turn", "step"])
async def test_review_reject_sends_the_reason_to_the_teacher_for_a_repair(
    tmp_path, sandbox, checkpoints
):
    out = await _review_run(
        tmp_path,
        sandbox,
        [{"action": "reject", "reason": "too close to a textbook exercise"}, {"action": "approve"}],
        checkpoints,
    )
    assert [q["kind"] for q in out["questions"]] == ["review_problem", "review_problem"]
    repair = out["teacher"].requests[1]
    assert repair.critique.rejections[0].code == "reviewer_rejected"
    assert "textbook" in repair.critique.rejections[0].message
    (outcome,) = out["state"]["outcomes"]
    assert outcome.valid and outcome.teacher_calls == 2


async def test_review_edit_goes_back_through_the_critic_then_to_students(tmp_path, sandbox):
    edited = "Return the list sorted in ascending order; ties keep their order. solve(xs)."
    out = await _review_run(
        tmp_path,
        sandbox,
        [{"action": "edit", "problem": {"statement": edited}}, {"action": "approve"}],
    )
    assert out["questions"][1]["problem"]["statement"] == edited  # re-checked, asked again
    (outcome,) = out["state"]["outcomes"]
    assert outcome.valid and outcome.teacher_calls == 1
    assert out["bank"].problem("r", outcome.problem_id).statement == edited
