"""The critic's rubric: every rejection reason, alone and through the real sandbox."""

from __future__ import annotations

import json

from langchain_core.language_models.fake_chat_models import FakeListChatModel

from stepstones.agents.critic import Critic, Evidence, deterministic, no_leak
from stepstones.agents.critic import tests_discriminate as discriminates
from stepstones.tools.dedup import NearDupIndex, problem_text
from stepstones.tools.sandbox.base import SandboxConfig
from stepstones.tools.schema import Verdict
from tests.fakes import make_problem

GOOD = make_problem()


def critic(sandbox, **kw) -> Critic:
    kw.setdefault("benchmark", False)
    return Critic(sandbox, SandboxConfig(), **kw)


def codes(critique) -> set[str]:
    return {r.code for r in critique.rejections}


async def test_a_sound_problem_passes_and_gets_a_calibrated_time_limit(sandbox):
    c = await critic(sandbox).review(GOOD, NearDupIndex())
    assert c.valid, c.feedback
    assert c.time_limit_s is not None and c.time_limit_s >= SandboxConfig().time_floor_s


async def test_reference_failing_its_tests_is_rejected_with_the_failing_case(sandbox):
    bad = make_problem("def solve(xs):\n    return list(reversed(sorted(xs)))\n")
    c = await critic(sandbox).review(bad, NearDupIndex())
    assert codes(c) == {"reference_fails"}
    assert "expected" in c.rejections[0].message and "got" in c.rejections[0].message


async def test_tests_a_trivial_solution_passes_are_weak(sandbox):
    # Every expected value is the input itself: the identity function passes.
    weak = make_problem(cases=[([[1, 2]], [1, 2]), ([[]], []), ([[5]], [5])])
    c = await critic(sandbox).review(weak, NearDupIndex())
    assert "weak_tests" in codes(c)


async def test_tests_a_known_bug_passes_are_weak(sandbox):
    p = make_problem(wrong_solutions={"edge_case": "def solve(xs):\n    return sorted(set(xs))\n"})
    # The default cases include [2, 2, 1], so the dedup-bug is caught ...
    assert (await critic(sandbox).review(p, NearDupIndex())).valid
    # ... and without duplicates in any test it is not.
    cases = [([[3, 1, 2]], [1, 2, 3]), ([[]], []), ([[5]], [5]), ([[-1, 4, 0]], [-1, 0, 4])]
    weak = make_problem(cases=cases, wrong_solutions=p.wrong_solutions)
    c = await critic(sandbox).review(weak, NearDupIndex())
    assert codes(c) == {"weak_tests"} and "edge_case" in c.rejections[0].message


async def test_near_duplicate_of_a_bank_problem_is_rejected(sandbox):
    index = NearDupIndex()
    index.add("older", problem_text(GOOD))
    renamed = make_problem("def solve(values):\n    return sorted(values)\n")
    c = await critic(sandbox).review(renamed, index)
    assert codes(c) == {"duplicate"} and "older" in c.rejections[0].message
    # Its own parent (passed in `exclude`) does not count.
    assert (await critic(sandbox).review(renamed, index, exclude={"older"})).valid


async def test_statement_leaking_the_reference_is_rejected(sandbox):
    reference = "def solve(xs):\n    result = list(xs)\n    result.sort()\n    return result\n"
    leaky = make_problem(reference, statement="Sort the list. Hint: write\n" + reference)
    c = await critic(sandbox).review(leaky, NearDupIndex())
    assert "leaks_solution" in codes(c)


async def test_a_humaneval_problem_is_rejected_as_contaminated(sandbox):
    from stepstones.tools.decontam import BenchmarkIndex

    index = BenchmarkIndex.humaneval()
    item = next(i for i in index.items if i.task_id == "HumanEval/0")
    planted = make_problem(
        item.prompt + item.solution,
        cases=[
            ([[1.0, 2.0, 3.0], 0.5], False),
            ([[1.0, 2.8, 3.0, 4.0, 5.0, 2.0], 0.3], True),
            ([[1.0, 2.0, 5.9, 4.0, 5.0], 0.95], True),
            ([[], 1.0], False),
        ],
        statement=item.prompt,
        entry_point="has_close_elements",
    )
    c = await critic(sandbox, benchmark=index).review(planted, NearDupIndex())
    assert "contaminated" in codes(c)
    assert "HumanEval/0" in next(r.message for r in c.rejections if r.code == "contaminated")


async def test_an_llm_reviewer_can_call_a_statement_unclear(sandbox):
    reply = json.dumps({"valid": False, "reasons": ["the order for ties is not specified"]})
    c = await critic(sandbox, model=FakeListChatModel(responses=[reply])).review(
        GOOD, NearDupIndex()
    )
    assert codes(c) == {"unclear_statement"} and "ties" in c.rejections[0].message


async def test_an_unparseable_llm_review_is_a_recorded_rejection_not_a_pass(sandbox):
    c = await critic(sandbox, model=FakeListChatModel(responses=["no idea", "still no"])).review(
        GOOD, NearDupIndex()
    )
    assert not c.valid and codes(c) == {"critic_unusable"}
    assert "no JSON object" in c.rejections[0].message


def _verdict(ok: bool) -> Verdict:
    return Verdict(status="passed" if ok else "wrong_answer", passed=int(ok), total=1)


def test_rubric_nondeterministic_when_a_later_reference_run_disagrees():
    ev = Evidence(problem=GOOD, reference=[_verdict(True), _verdict(False)])
    r = deterministic(ev)
    assert r is not None and r.code == "nondeterministic"
    assert deterministic(Evidence(problem=GOOD, reference=[_verdict(True)] * 3)) is None


def test_rubric_weak_tests_when_most_mutants_survive():
    ev = Evidence(
        problem=GOOD,
        reference=[_verdict(True)],
        mutants=[_verdict(True), _verdict(True), _verdict(False)],
    )
    r = discriminates(ev)
    assert r is not None and "1 of 3" in r.message
    ev.mutants = [_verdict(False), _verdict(False), _verdict(True)]
    assert discriminates(ev) is None


def test_rubric_no_leak_tolerates_one_generic_line_of_a_longer_reference():
    reference = (
        "def solve(xs):\n    result = []\n    for x in xs:\n"
        "        result.insert(len(result), x * 2)\n    return sorted(result)\n"
    )
    p = make_problem(reference, statement="Double every number; use for x in xs: if you like.")
    assert no_leak(Evidence(problem=p, reference=[_verdict(True)])) is None
