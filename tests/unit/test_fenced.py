"""Teacher replies as fenced blocks (the paper's layout): every environment's draft reads back
from its blocks, prose and reasoning around them are ignored, and a bad reply says what to fix."""

from __future__ import annotations

import pytest

from stepstones.agents.parsing import ReplyParseError, parse_fenced_reply
from stepstones.tools.environments import get_environment
from stepstones.tools.environments.abduction import AbductionDraft
from stepstones.tools.environments.code import CodeDraft
from stepstones.tools.environments.deduction import DeductionDraft
from stepstones.tools.environments.fenced import fenced_of, format_rules, tags, validate_fenced
from stepstones.tools.environments.fuzzing import FuzzingDraft
from stepstones.tools.environments.induction import InductionDraft

F = "def f(xs):\n    return sorted(xs)[::-1]\n"
DRAFTS = [
    CodeDraft(
        title="sort",
        statement="Return xs sorted ascending; solve(xs) -> list.",
        inputs=[[[3, 1]], [[]], [[2, 2, 1]]],
        reference_solution="def solve(xs):\n    return sorted(xs)\n",
    ),
    CodeDraft(
        title="sum",
        statement="Read n numbers from stdin and print their sum.",
        io_style="stdio",
        inputs=["2\n1 2\n", "1\n5\n", "1\n7\n"],
        reference_solution="import sys\nprint(sum(map(int, sys.stdin.read().split()[1:])))\n",
    ),
    InductionDraft(
        title="rev",
        message="f orders numbers somehow",
        program=F,
        inputs=[[[1, 2]], [[3, 1, 2]], [[]], [[5]]],
        shown=2,
    ),
    DeductionDraft(title="rev", program=F, input=[[1, 3, 2]], probes=[[[1]], [[2, 1]]]),
    AbductionDraft(title="rev", program=F, input=[[1, 3, 2]], probes=[[[1]], [[2, 1]]]),
    FuzzingDraft(
        title="rev",
        message="f sorts descending",
        program=F,
        pre_test="def pre_test(xs):\n    return isinstance(xs, list)\n",
        test="def test(xs):\n    return len(f(xs)) == len(xs)\n",
        witness=[[1]],
        inputs=[[[2]], [[3, 4]]],
    ),
]


@pytest.mark.parametrize("draft", DRAFTS, ids=lambda d: type(d).__name__)
def test_every_draft_reads_back_from_its_blocks_with_prose_around_them(draft) -> None:
    reply = (
        "<think>which task?</think>\nThe seed reverses lists, so...\n\n"
        + fenced_of(draft)
        + "\n\nThat is the problem."
    )
    assert validate_fenced(reply, type(draft)) == draft
    assert parse_fenced_reply(reply, type(draft)) == draft


def test_the_system_prompt_names_every_block_of_each_environment() -> None:
    for name in ("code", "induction", "deduction", "abduction", "fuzzing"):
        model = get_environment(name).draft_model
        rules = format_rules(model)
        assert all(f"```{tag}" in rules for tag in tags(model)), name
    assert "told apart by the function it defines" in format_rules(FuzzingDraft)


def test_fuzzing_code_blocks_go_to_the_part_whose_function_they_define() -> None:
    draft = DRAFTS[-1]
    code = "".join(f"```python\n{c}```\n" for c in (draft.test, draft.program, draft.pre_test))
    reply = (
        f"```title\nrev\n```\n```message\nf sorts descending\n```\n{code}"
        "```witness\n[[1]]\n```\n```input\n[[2]]\n```\n```input\n[[3, 4]]\n```\n"
    )
    assert validate_fenced(reply, FuzzingDraft) == draft


def test_the_entry_point_is_the_one_function_the_program_defines() -> None:
    reply = (
        "```title\nsq\n```\n```python\ndef square(x):\n    return x * x\n```\n"
        "```input\n[2]\n```\n```probe\n[3]\n```\n```probe\n[4]\n```"
    )
    draft = validate_fenced(reply, DeductionDraft)
    assert draft is not None and draft.entry_point == "square" and draft.input == [2]


def test_stdio_inputs_stay_text_even_when_they_look_like_json() -> None:
    reply = (
        "```title\necho\n```\n```statement\nPrint the number read from stdin, unchanged.\n```"
        "\n```io_style\nstdio\n```\n```python\nprint(input())\n```\n"
        "```input\n5\n```\n```input\n[1, 2]\n```\n```input\nhello\n```"
    )
    draft = validate_fenced(reply, CodeDraft)
    assert draft is not None and draft.inputs == ["5\n", "[1, 2]\n", "hello\n"]


def test_a_json_reply_is_still_read() -> None:
    draft = DRAFTS[3]
    assert (
        parse_fenced_reply("```json\n" + draft.model_dump_json() + "\n```", DeductionDraft) == draft
    )


@pytest.mark.parametrize(
    ("reply", "says"),
    [
        (
            "```title\nx\n```\n```python\ndef f(x):\n    return x + 1\n```\n```input\n[1\n```",
            "not JSON",
        ),
        ("```title\nx\n```\n```title\ny\n```", "two ```title``` blocks"),
        (
            "```title\nx\n```\n```python\ndef f(x):\n    return x + 1\n```\n```input\n[1]\n```",
            "probes",
        ),  # no probe blocks: the draft's minimum is named
        ("Sure! def f(x): return x", "no tagged blocks"),
    ],
)
def test_a_bad_reply_says_what_to_fix(reply: str, says: str) -> None:
    with pytest.raises(ReplyParseError, match=says):
        parse_fenced_reply(reply, DeductionDraft)
