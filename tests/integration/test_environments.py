"""Every environment through the real sandbox: gold by execution, validity, judging answers.

A draft has no output fields, so whatever a teacher believes the outputs are never reaches a
gold answer; the tests below check the gold is what running the program gives, that each
validity check rejects a crafted invalid problem with its reason, and that each environment's
judge passes a right answer and fails wrong and hostile ones.
"""

from __future__ import annotations

import json

import pytest

from stepstones.tools.environments import get_environment
from stepstones.tools.environments.abduction import AbductionDraft, AbductionEnvironment
from stepstones.tools.environments.code import CodeDraft
from stepstones.tools.environments.deduction import DeductionDraft
from stepstones.tools.environments.fuzzing import FuzzingDraft
from stepstones.tools.environments.gold import execute
from stepstones.tools.environments.induction import InductionDraft
from stepstones.tools.schema import Lineage, Problem, TestCase

LIN = Lineage(seed_id="seed")
SUM = "def solve(xs):\n    return sum(xs)\n"
F = "def f(x, k):\n    return [v * k for v in x][::-1]\n"


async def judged(sandbox, env, problem: Problem, reply: str) -> bool | None:
    """The reward of `reply`: None when it holds no answer, else whether the verdict passed."""
    sub = env.submission(problem, reply)
    if sub is None:
        return None
    (verdict,) = await sandbox.run([sub])
    assert verdict.status != "sandbox_error", verdict.error
    return verdict.ok


def codes(rejections) -> set[str]:
    return {r.code for r in rejections}


# ---------------------------------------------------------------- gold runs


async def test_gold_outputs_are_whole_and_failures_and_flakes_are_reasons(sandbox):
    long = "def f(n):\n    return 'x' * n\n"
    run = await execute(sandbox, long, ["[5000]"])
    assert run.ok and json.loads(run.outputs[0]) == "x" * 5000
    bad = await execute(sandbox, "def f(n):\n    return 1 // n\n", ["[1]", "[0]"])
    assert not bad.ok and bad.outputs[0] == "1"
    (why,) = bad.rejections()
    assert why.code == "reference_fails" and "[0]" in why.message and "Zero" in why.message
    flaky = await execute(sandbox, "import os\ndef f():\n    return os.urandom(8).hex()\n", ["[]"])
    assert codes(flaky.rejections()) == {"nondeterministic"}
    nan = await execute(sandbox, "def f():\n    return float('nan')\n", ["[]"])
    assert "NaN" in nan.rejections()[0].message


# ---------------------------------------------------------------- code


async def test_code_gold_is_the_references_output(sandbox):
    env = get_environment("code")
    draft = CodeDraft(
        title="sum",
        statement="Return the sum of the list xs of integers.",
        inputs=[[[1, 2]], [[]], [[-5, 5, 7]]],
        reference_solution=SUM,
    )
    problem = await env.build(draft, LIN, sandbox)
    assert isinstance(problem, Problem)
    assert [t.expected for t in problem.tests] == ["3", "0", "7"]
    assert problem.environment == "code" and await env.validate(problem, sandbox) == []
    stdio = CodeDraft(
        title="echo",
        statement="Print the input doubled, on one line.",
        io_style="stdio",
        inputs=["ab", "c", ""],
        reference_solution="print(input() * 2 if True else '')\n",
    )
    built = await env.build(stdio, LIN, sandbox)
    assert not isinstance(built, Problem) and "EOFError" in built[0].message


async def test_code_problem_with_claimed_wrong_outputs_is_rejected(sandbox):
    env = get_environment("code")
    wrong = Problem(
        statement="Return the sum of xs.",
        tests=[TestCase(input="[[1, 2]]", expected="4")],
        reference_solution=SUM,
        lineage=LIN,
    )
    assert codes(await env.validate(wrong, sandbox)) == {"reference_fails"}


async def test_code_judging_passes_right_code_and_fails_wrong_and_hostile(sandbox):
    env = get_environment("code")
    draft = CodeDraft(
        title="sum",
        statement="Return the sum of the list xs of integers.",
        inputs=[[[1, 2]], [[]], [[-5, 5, 7]]],
        reference_solution=SUM,
    )
    problem = await env.build(draft, LIN, sandbox)
    assert await judged(sandbox, env, problem, f"```python\n{SUM}```") is True
    assert (
        await judged(sandbox, env, problem, "```python\ndef solve(xs):\n    return 3\n```") is False
    )
    exit_early = "```python\nraise SystemExit(0)\ndef solve(xs):\n    return 0\n```"
    assert await judged(sandbox, env, problem, exit_early) is False
    assert await judged(sandbox, env, problem, "I cannot solve this.") is None


# ---------------------------------------------------------------- induction


def induction_draft(program: str = F, inputs=None, shown: int = 2) -> InductionDraft:
    inputs = inputs or [[[1, 2], 3], [[0], 5], [[4, 1, 2], -1], [[7, 7], 2]]
    return InductionDraft(
        title="scale",
        message="scales a list by k in some order",
        program=program,
        inputs=inputs,
        shown=shown,
    )


async def test_induction_gold_validity_and_judging(sandbox):
    env = get_environment("induction")
    problem = await env.build(induction_draft(), LIN, sandbox)
    assert isinstance(problem, Problem) and problem.spec == {"shown": 2}
    assert json.loads(problem.tests[0].expected) == [6, 3]
    assert await env.validate(problem, sandbox) == []
    assert await judged(sandbox, env, problem, f"```python\n{F}```") is True
    shown = {t.input: t.expected for t in problem.tests[:2]}
    lookup = f"import json\ndef f(x, k):\n    return json.loads({shown!r}[json.dumps([x, k])])\n"
    assert await judged(sandbox, env, problem, f"```python\n{lookup}```") is False
    no_reverse = "def f(x, k):\n    return [v * k for v in x]\n"
    assert await judged(sandbox, env, problem, no_reverse) is False


@pytest.mark.parametrize(
    ("program", "inputs", "reason"),
    [
        ("def f(x, k):\n    return 0\n", None, "same value"),
        ("def f(x, k):\n    return [x, k]\n", None, "unchanged"),
        (F, [[[1], 2], [[2], 2], [[1], 2], [[2], 2]], "lookup"),
    ],
)
async def test_induction_rejects_trivial_tasks_with_reasons(sandbox, program, inputs, reason):
    env = get_environment("induction")
    problem = await env.build(induction_draft(program, inputs), LIN, sandbox)
    rejections = await env.validate(problem, sandbox)
    assert "trivial" in codes(rejections)
    assert any(reason in r.message for r in rejections)


# ---------------------------------------------------------------- deduction


async def deduction(sandbox, program: str = F, args=None, probes=None) -> Problem:
    draft = DeductionDraft(
        title="scale",
        program=program,
        input=args or [[1, 2], 3],
        probes=probes or [[[5], 2], [[1, 1], 0]],
    )
    problem = await get_environment("deduction").build(draft, LIN, sandbox)
    assert isinstance(problem, Problem)
    return problem


async def test_deduction_gold_and_judging_of_values(sandbox):
    env = get_environment("deduction")
    problem = await deduction(sandbox)
    assert problem.spec["output"] == [6, 3] and await env.validate(problem, sandbox) == []
    assert await judged(sandbox, env, problem, "```json\n[6, 3]\n```") is True
    assert await judged(sandbox, env, problem, "so it returns\n(6, 3)") is True
    for wrong in ("[3, 6]", "[6.5, 3]", "[6, 3, 0]", '"[6, 3]"', "[6, true]"):
        assert await judged(sandbox, env, problem, wrong) is False, wrong
    deep = "[" * 60 + "]" * 60
    assert await judged(sandbox, env, problem, deep) is False
    for hostile in ("[" * 5000 + "]" * 5000, "9" * 50_000, "__import__('os')", "{1, 2}"):
        assert await judged(sandbox, env, problem, hostile) is None


async def test_deduction_bools_are_not_ints_and_floats_get_tolerance(sandbox):
    env = get_environment("deduction")
    one = await deduction(sandbox, "def f(x, k):\n    return len(x) - 1\n")
    assert await judged(sandbox, env, one, "1") is True
    assert await judged(sandbox, env, one, "true") is False
    tenth = await deduction(sandbox, "def f(x, k):\n    return 0.1 + 0.2 * k\n")
    assert await judged(sandbox, env, tenth, "0.7") is True


async def test_deduction_rejects_identity_and_constant_programs(sandbox):
    env = get_environment("deduction")
    same = await deduction(sandbox, "def f(x, k):\n    return [x, k]\n")
    assert any("unchanged" in r.message for r in await env.validate(same, sandbox))
    const = await deduction(sandbox, "def f(x, k):\n    return 7\n")
    assert any("same value" in r.message for r in await env.validate(const, sandbox))


# ---------------------------------------------------------------- abduction


async def abduction(sandbox, program: str = F, match="execution") -> Problem:
    draft = AbductionDraft(
        title="scale", program=program, input=[[1, 2], 3], probes=[[[5], 2], [[1, 1], 0]]
    )
    problem = await AbductionEnvironment(match).build(draft, LIN, sandbox)
    assert isinstance(problem, Problem)
    return problem


async def test_abduction_judges_by_running_f_on_the_answer(sandbox):
    env = get_environment("abduction")
    problem = await abduction(sandbox)
    assert problem.spec["output"] == [6, 3] and await env.validate(problem, sandbox) == []
    assert await judged(sandbox, env, problem, "```json\n[[1, 2], 3]\n```") is True
    assert await judged(sandbox, env, problem, "f([2, 4], 1.5)") is True  # another preimage
    for wrong in ("[[2, 1], 3]", "[[1, 2]]", '[[1, "a"], 3]', "[null, 3]"):
        assert await judged(sandbox, env, problem, wrong) is False, wrong
    for hostile in ("[" * 5000 + "]" * 5000, "f(__import__('os'), 1)", "7"):
        assert await judged(sandbox, env, problem, hostile) is None


async def test_abduction_exact_match_wants_the_teachers_input(sandbox):
    env = get_environment("abduction")
    problem = await abduction(sandbox, match="exact")
    assert await judged(sandbox, env, problem, "[[1, 2], 3]") is True
    assert await judged(sandbox, env, problem, "[[2, 4], 1.5]") is False


async def test_abduction_rejects_identity_and_constant_programs(sandbox):
    env = get_environment("abduction")
    same = await abduction(sandbox, "def f(x, k):\n    return [x, k]\n")
    assert any("unchanged" in r.message for r in await env.validate(same, sandbox))
    const = await abduction(sandbox, "def f(x, k):\n    return 7\n")
    assert any("same value" in r.message for r in await env.validate(const, sandbox))


# ---------------------------------------------------------------- fuzzing

DEDUP = "def f(xs):\n    return sorted(set(xs))\n"
INTS = "def pre_test(xs):\n    return isinstance(xs, list) and all(type(v) is int for v in xs)\n"
KEEPS = "def test(xs):\n    return len(f(xs)) == len(xs)\n"


def fuzz_draft(**kw) -> FuzzingDraft:
    fields = dict(
        title="sort",
        message="f sorts a list of integers",
        program=DEDUP,
        pre_test=INTS,
        test=KEEPS,
        witness=[[1, 1]],
        inputs=[[[1, 2]], [[3, 1, 2]]],
    )
    fields.update(kw)
    return FuzzingDraft(**fields)


async def test_fuzzing_witness_confirmed_and_answers_judged_by_the_wrapper(sandbox):
    env = get_environment("fuzzing")
    problem = await env.build(fuzz_draft(), LIN, sandbox)
    assert isinstance(problem, Problem) and await env.validate(problem, sandbox) == []
    assert await judged(sandbox, env, problem, "```json\n[[5, 2, 5]]\n```") is True
    assert await judged(sandbox, env, problem, "[[1, 2]]") is False  # property holds
    assert await judged(sandbox, env, problem, '[["a", "a"]]') is False  # precondition
    assert await judged(sandbox, env, problem, "[[1.5, 1.5]]") is False
    assert await judged(sandbox, env, problem, "[[1, 1], 2]") is False  # pre_test raises
    forged = '```json\n["found"]\n```'
    assert await judged(sandbox, env, problem, forged) is False
    for hostile in ("[" * 5000 + "]" * 5000, "f(exec('x'))", "__import__('os')"):
        assert await judged(sandbox, env, problem, hostile) is None


async def test_fuzzing_a_raising_property_counts_as_broken(sandbox):
    env = get_environment("fuzzing")
    head = "def test(xs):\n    return f(xs)[0] <= f(xs)[-1]\n"
    problem = await env.build(fuzz_draft(test=head, witness=[[]]), LIN, sandbox)
    assert await env.validate(problem, sandbox) == []
    assert await judged(sandbox, env, problem, "[[]]") is True


@pytest.mark.parametrize(
    ("kw", "code", "reason"),
    [
        ({"witness": [[1, 2]]}, "reference_fails", "passes test"),
        ({"witness": [["x"]]}, "reference_fails", "does not meet pre_test"),
        ({"inputs": [[[1, 2]], [[4, 4]]]}, "trivial", "already fails"),
        ({"inputs": [[[1, 2]], [[0.5]]]}, "malformed", "does not meet pre_test"),
        ({"test": "def test(xs):\n    return True\n"}, "malformed", "never calls f"),
        ({"pre_test": "def check(xs):\n    return True\n"}, "malformed", "pre_test must define"),
    ],
)
async def test_fuzzing_rejects_broken_and_trivial_tasks(sandbox, kw, code, reason):
    env = get_environment("fuzzing")
    problem = await env.build(fuzz_draft(**kw), LIN, sandbox)
    assert isinstance(problem, Problem)
    rejections = await env.validate(problem, sandbox)
    assert any(r.code == code and reason in r.message for r in rejections), rejections


# ---------------------------------------------------------------- derived drafts (offline)


async def test_family_problems_derive_valid_problems_of_every_environment(sandbox):
    import random

    from stepstones.agents.families import FAMILIES
    from stepstones.agents.teacher import problem_from_instance
    from stepstones.tools.environments.derive import DRAFTS, derive, derive_fuzzing

    made = set()
    for name in list(FAMILIES)[:3]:
        source = problem_from_instance(FAMILIES[name].generate(2, random.Random(3)), LIN)
        for env_name in DRAFTS:
            env = get_environment(env_name)
            draft = derive(source, env_name, random.Random(5))
            assert derive(source, env_name, random.Random(5)) == draft  # reproducible
            problem = await env.build(draft, LIN, sandbox)
            assert isinstance(problem, Problem), (name, env_name, problem)
            if env_name == "code":
                assert problem.tests == source.tests  # gold by execution = the family's
            assert await env.validate(problem, sandbox) == [], (name, env_name)
            made.add(env_name)
        draft = await derive_fuzzing(source, random.Random(5), sandbox)
        if draft is not None:
            env = get_environment("fuzzing")
            problem = await env.build(draft, LIN, sandbox)
            assert await env.validate(problem, sandbox) == [], name
            reply = json.dumps(draft.witness)
            assert await judged(sandbox, env, problem, reply) is True
            made.add("fuzzing")
    assert made == {"code", "induction", "deduction", "abduction", "fuzzing"}
