"""Environments without a sandbox: drafts carry no outputs, answers parse as bounded data,
the registry, prompts and content ids."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from stepstones.tools.environments import ENVIRONMENT_NAMES, ENVIRONMENTS, get_environment
from stepstones.tools.environments.answers import MAX_DEPTH, answer_args, answer_value
from stepstones.tools.environments.deduction import DeductionDraft
from stepstones.tools.environments.induction import InductionDraft
from stepstones.tools.schema import Lineage, Problem, TestCase

F = "def f(x):\n    return x * 2\n"


def test_the_five_environments_are_registered_with_rules_and_drafts():
    assert set(ENVIRONMENT_NAMES) <= set(ENVIRONMENTS)
    for name in ENVIRONMENT_NAMES:
        env = get_environment(name)
        assert env.name == name and "JSON" in env.teacher_rules()
        fields = set(env.draft_model.model_fields)
        assert not fields & {"expected", "output", "outputs", "tests"}, name
    with pytest.raises(ValueError, match="induction"):
        get_environment("nope")


def test_a_draft_that_states_outputs_is_malformed():
    with pytest.raises(ValidationError):
        DeductionDraft.model_validate(
            {"title": "t", "program": F, "input": [2], "probes": [[1], [3]], "output": 999}
        )
    with pytest.raises(ValidationError, match="hidden"):
        InductionDraft(
            title="t", message="doubles things", program=F, inputs=[[1], [2], [3], [4]], shown=4
        )


def test_a_code_problem_keeps_its_id_and_other_environments_hash_theirs():
    base = dict(
        statement="s" * 20,
        tests=[TestCase(input="[1]", expected="2")],
        reference_solution=F,
        lineage=Lineage(seed_id="s"),
    )
    code = Problem(**base)
    assert code.id == Problem(**base, environment="code").id
    a = Problem(**base, environment="deduction", spec={"input": [1]})
    b = Problem(**base, environment="deduction", spec={"input": [2]})
    assert len({code.id, a.id, b.id}) == 3


@pytest.mark.parametrize(
    ("reply", "want"),
    [
        ("```json\n[1, 2]\n```", [1, 2]),
        ("reasoning...\n```python\n(1, True, None)\n```", [1, True, None]),
        ("<think>maybe 3</think>\nThe answer is:\n{'a': 1}", {"a": 1}),
        ('```input\n"x"\n```', "x"),
        ("4.5", 4.5),
    ],
)
def test_value_answers_parse_from_fences_or_bare_text(reply, want):
    assert json.loads(answer_value(reply)) == want


@pytest.mark.parametrize(
    "reply",
    [
        "",
        "no idea",
        "{1, 2}",
        "b'x'",
        "1j",
        "float('nan')",
        "__import__('os').system('x')",
        "[" * 100_000,
        "[" * (MAX_DEPTH + 5) + "]" * (MAX_DEPTH + 5),
        "9" * 10_000,
        "[" + "1," * 200_000 + "1]",
        "```json\nNaN\n```",
    ],
)
def test_hostile_value_answers_are_no_answer(reply):
    assert answer_value(reply) is None


def test_argument_answers_accept_arrays_tuples_and_calls_only():
    assert json.loads(answer_args("```json\n[3, [1]]\n```", "f")) == [3, [1]]
    assert json.loads(answer_args("f(3, 'a')", "f")) == [3, "a"]
    assert json.loads(answer_args("(3,)", "f")) == [3]
    for bad in ("3", "g(3)", "f(x=3)", "f(open('x'))", '{"a": 1}'):
        assert answer_args(bad, "f") is None, bad


def test_task_prompts_show_what_the_environment_shows_and_hide_the_rest():
    lin = Lineage(seed_id="s")
    tests = [TestCase(input=json.dumps([i]), expected=json.dumps(i * 2)) for i in range(6)]
    ind = Problem(
        statement="doubles a number",
        tests=tests,
        reference_solution=F,
        lineage=lin,
        entry_point="f",
        environment="induction",
        spec={"shown": 2},
    )
    text = get_environment("induction").task_prompt(ind)
    assert "f(*[1]) == 2" in text and "[5]" not in text and "def f" not in text
    ded = Problem(
        statement="d",
        tests=[TestCase(input="[21]", expected="42")],
        entry_point="f",
        reference_solution=F,
        lineage=lin,
        environment="deduction",
    )
    text = get_environment("deduction").task_prompt(ded)
    assert "return x * 2" in text and "[21]" in text and "42" not in text
    abd = ded.model_copy(update={"environment": "abduction", "spec": {"input": [21]}})
    text = get_environment("abduction").task_prompt(abd)
    assert "42" in text and "21" not in text


def test_a_spec_with_any_json_value_survives_the_checkpointer() -> None:
    """A program's output can be an int past 64 bits, which msgpack cannot pack: the spec is
    stored as JSON text, and a code problem's (empty) spec is stored as it always was."""
    from stepstones.runner import serde
    from stepstones.tools.schema import Lineage, Problem, TestCase

    big = 2**70 + 1
    problem = Problem(
        statement="Predict the output of f",
        entry_point="f",
        tests=[TestCase(input="[70]", expected=str(big))],
        reference_solution="def f(n):\n    return 2 ** n + 1\n",
        lineage=Lineage(seed_id="s"),
        environment="deduction",
        spec={"input": [70], "output": big, "probes": [[1], [2]]},
    )
    codec = serde()
    back = codec.loads_typed(codec.dumps_typed({"lineage": problem}))["lineage"]
    assert back == problem and back.spec["output"] == big
    assert Problem.model_validate_json(problem.model_dump_json()).spec == problem.spec
    code = problem.model_copy(update={"environment": "code", "spec": {}})
    assert code.model_dump()["spec"] == {}
