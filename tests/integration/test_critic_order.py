"""Cheap checks first: a problem the critic can reject from its data and lookups alone (a
duplicate, a benchmark leak, a leaked solution, tests a constant passes, an environment's
static checks) reaches no sandbox; a problem that gets past them still gets every check."""

from __future__ import annotations

from collections.abc import Sequence

from stepstones.agents.critic import Critic
from stepstones.tools.decontam import BenchmarkIndex
from stepstones.tools.dedup import NearDupIndex, problem_text
from stepstones.tools.environments import get_environment
from stepstones.tools.environments.deduction import DeductionDraft
from stepstones.tools.mutate import mutants, trivial_solutions
from stepstones.tools.sandbox.base import Sandbox, SandboxConfig, Submission
from stepstones.tools.schema import Lineage, Problem, Verdict
from tests.fakes import make_problem

GOOD = make_problem()


class RecordingSandbox:
    """The real sandbox, with every submission it is asked to run counted."""

    def __init__(self, inner: Sandbox) -> None:
        self.inner = inner
        self.name = inner.name
        self.submissions: list[Submission] = []

    @property
    def isolation(self) -> str:
        return self.inner.isolation

    async def run(self, submissions: Sequence[Submission]) -> list[Verdict]:
        self.submissions += submissions
        return await self.inner.run(submissions)

    async def aclose(self) -> None:
        await self.inner.aclose()


def critic(sandbox: RecordingSandbox, **kw) -> Critic:
    kw.setdefault("benchmark", False)
    return Critic(sandbox, SandboxConfig(), **kw)


def codes(critique) -> list[str]:
    return [r.code for r in critique.rejections]


async def test_a_duplicate_is_rejected_without_a_sandbox_call(sandbox):
    rec = RecordingSandbox(sandbox)
    index = NearDupIndex()
    index.add("older", problem_text(GOOD))
    renamed = make_problem("def solve(values):\n    return sorted(values)\n")
    c = await critic(rec).review(renamed, index)
    assert codes(c) == ["duplicate"] and rec.submissions == []
    assert c.reference_verdict is None and c.time_limit_s is None
    # The same problem with its parent excluded goes on to the sandbox and passes.
    assert (await critic(rec).review(renamed, index, exclude={"older"})).valid
    assert rec.submissions


async def test_a_duplicate_whose_reference_fails_reports_only_the_duplicate(sandbox):
    rec = RecordingSandbox(sandbox)
    index = NearDupIndex()
    index.add("older", problem_text(GOOD))
    broken = make_problem("def solve(xs):\n    return sorted(xs)[::-1]\n")
    index.add("older-broken", problem_text(broken))
    c = await critic(rec).review(broken, index)
    assert codes(c) == ["duplicate"] and rec.submissions == []


async def test_a_benchmark_leak_is_rejected_without_a_sandbox_call(sandbox):
    rec = RecordingSandbox(sandbox)
    bench = BenchmarkIndex.humaneval()
    item = next(i for i in bench.items if i.task_id == "HumanEval/0")
    planted = make_problem(
        item.prompt + item.solution,
        cases=[([[1.0, 2.0, 3.0], 0.5], False), ([[1.0, 2.8, 3.0, 4.0, 5.0, 2.0], 0.3], True)],
        statement=item.prompt,
        entry_point="has_close_elements",
    )
    c = await critic(rec, benchmark=bench).review(planted, NearDupIndex())
    assert "contaminated" in codes(c) and rec.submissions == []


async def test_a_leaked_solution_and_tests_a_constant_passes_cost_no_verdict(sandbox):
    rec = RecordingSandbox(sandbox)
    reference = "def solve(xs):\n    result = list(xs)\n    result.sort()\n    return result\n"
    leaky = make_problem(reference, statement="Sort the list. Hint: write\n" + reference)
    assert codes(await critic(rec).review(leaky, NearDupIndex())) == ["leaks_solution"]
    # Every expected value is the input itself: the first argument passes every test.
    echo = make_problem(cases=[([[1, 2]], [1, 2]), ([[]], []), ([[5]], [5])])
    c = await critic(rec).review(echo, NearDupIndex())
    assert codes(c) == ["weak_tests"] and "returns_first_argument" in c.rejections[0].message
    assert rec.submissions == []


async def test_a_valid_problem_still_gets_every_sandbox_check(sandbox):
    rec = RecordingSandbox(sandbox)
    wrong = {"edge_case": "def solve(xs):\n    return sorted(set(xs))\n"}
    p = make_problem(wrong_solutions=wrong)
    c = await critic(rec, determinism_runs=2, mutant_count=6).review(p, NearDupIndex())
    assert c.valid, c.feedback
    assert c.reference_verdict is not None and c.time_limit_s is not None
    codes_run = [s.code for s in rec.submissions]
    expected = (
        [p.reference_solution] * 2  # calibration, then the determinism re-run
        + list(trivial_solutions(p.entry_point).values())
        + list(wrong.values())
        + [code for _, code in mutants(p.reference_solution, 6)]
    )
    assert codes_run == expected


async def test_an_environment_problem_rejected_by_its_static_checks_costs_no_verdict(sandbox):
    env = get_environment("deduction")
    draft = DeductionDraft(
        title="sort",
        program="def f(xs):\n    return sorted(xs)\n",
        input=[[3, 1, 2]],
        probes=[[[2, 1]], [[5, 4, 9]]],
    )
    built = await env.build(draft, Lineage(seed_id="s"), sandbox)
    assert isinstance(built, Problem)
    rec = RecordingSandbox(sandbox)
    index = NearDupIndex()
    index.add("older", problem_text(built))
    c = await critic(rec).review(built, index)
    assert codes(c) == ["duplicate"] and rec.submissions == []
    # f returns its input unchanged on the given input: static, before any verdict.
    same = await env.build(
        draft.model_copy(update={"input": [[1, 2, 3]]}), Lineage(seed_id="s"), sandbox
    )
    assert isinstance(same, Problem)
    c = await critic(rec).review(same, NearDupIndex())
    assert codes(c) == ["trivial"] and rec.submissions == []
    # A sound one is validated in the sandbox.
    assert (await critic(rec).review(built, NearDupIndex())).valid
    assert rec.submissions
