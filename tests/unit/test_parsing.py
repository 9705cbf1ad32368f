"""Reply parsing: JSON out of prose and fences, one repair turn, recorded failures, student code.

The fuzz test pushes 1000 malformed or adversarial replies (generated from Random(0)) through
`ainvoke_parsed` and requires zero crashes and a reason for every failure.
"""

from __future__ import annotations

import json
import random
import time
from typing import Any

import pytest
from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import BaseModel, Field

from stepstones.agents import sampling
from stepstones.agents.parsing import ReplyParseError, ainvoke_parsed, extract_code, parse_reply
from stepstones.agents.usage import UsageMeter


class Draft(BaseModel):
    """A small stand-in for a teacher draft record."""

    title: str = Field(min_length=1)
    tests: list[int] = Field(min_length=1)
    ok: bool = True


GOOD = {"title": "Sum", "tests": [1, 2, 3]}


class Replies(BaseChatModel):
    """Answers with scripted replies in order and keeps the messages of every call."""

    replies: list[str | Exception]
    seen: list[list[BaseMessage]] = Field(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "replies"

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        raise NotImplementedError

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        self.seen.append(list(messages))
        reply = self.replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        usage = {"input_tokens": 10, "output_tokens": 5, "total_tokens": 15}
        return ChatResult(
            generations=[ChatGeneration(message=AIMessage(reply, usage_metadata=usage))]
        )


@pytest.mark.parametrize(
    "reply",
    [
        json.dumps(GOOD),
        f"Here you go:\n```json\n{json.dumps(GOOD)}\n```\nHope it helps!",
        f"```\n{json.dumps(GOOD)}\n```",
        f"Sure. {json.dumps(GOOD)} Let me know.",
        '{"title": "Sum", "tests": [1, 2, 3,],}',
        f'```json\n{{"title": ""}}\n```\nFixed:\n```json\n{json.dumps(GOOD)}\n```',
        f"<think>maybe {{'title': 1}}</think>{json.dumps(GOOD)}",
        f"```json\n{json.dumps(GOOD)}",  # cut off before the closing fence
        json.dumps(GOOD, indent=2).replace('"Sum"', '"Sum with } and { and \\" inside"'),
    ],
)
def test_parse_reply_finds_the_object(reply: str) -> None:
    draft = parse_reply(reply, Draft)
    assert draft.tests == [1, 2, 3] and draft.title.startswith("Sum")


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        ("", "empty"),
        ("I cannot help with that.", "no JSON object"),
        ('{"title": "x", "tests": [1, 2', "invalid JSON"),
        ("[1, 2, 3]", "expected a JSON object"),
        ('{"title": "x", "tests": "many"}', "tests: Input should be a valid list"),
        ('{"title": "", "tests": []}', "title: String should have at least 1 character"),
    ],
)
def test_parse_reply_says_what_is_wrong(reply: str, reason: str) -> None:
    with pytest.raises(ReplyParseError, match=reason):
        parse_reply(reply, Draft)


async def test_one_repair_turn_carries_the_error() -> None:
    model = Replies(replies=['{"title": "x"}', json.dumps(GOOD)])
    meter = UsageMeter()
    draft, failure = await ainvoke_parsed(
        model, [HumanMessage("write")], Draft, meter=meter, agent="teacher", model_name="m"
    )
    assert failure is None and draft is not None and draft.title == "Sum"
    repair = model.seen[1]
    assert repair[1].text == '{"title": "x"}'
    assert "tests: Field required" in repair[2].text and "only the corrected JSON" in repair[2].text
    (usage,) = meter.totals()
    assert (usage.agent, usage.model, usage.calls, usage.input_tokens) == ("teacher", "m", 2, 20)


async def test_a_second_bad_reply_is_a_recorded_failure() -> None:
    model = Replies(replies=["no json", '{"title": 3}'])
    draft, failure = await ainvoke_parsed(model, [HumanMessage("write")], Draft)
    assert draft is None and failure is not None
    assert failure.raw == '{"title": 3}'
    assert "title: Input should be a valid string" in failure.reason
    assert "after one repair attempt" in failure.reason


async def test_model_errors_become_failures(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sampling, "BACKOFF_BASE_S", 0.001)
    model = Replies(replies=[ValueError("context length exceeded")])
    draft, failure = await ainvoke_parsed(model, [HumanMessage("write")], Draft)
    assert draft is None and failure is not None and failure.raw is None
    assert failure.reason == "model call failed: ValueError: context length exceeded"

    model = Replies(replies=["nope", ValueError("boom")])
    draft, failure = await ainvoke_parsed(model, [HumanMessage("write")], Draft)
    assert draft is None and failure is not None and failure.raw == "nope"
    assert "no JSON object" in failure.reason and "repair model call failed" in failure.reason


async def test_works_with_langchain_fake_model() -> None:
    model = FakeListChatModel(responses=[f"```json\n{json.dumps(GOOD)}\n```"])
    draft, failure = await ainvoke_parsed(model, [HumanMessage("write")], Draft)
    assert failure is None and draft is not None


# ---- fuzz ---------------------------------------------------------------------------------

_JUNK_CHARS = "{}[]\",:`\\'\n\t -0123456789abcdefnulltrue"
_UNICODE = "é中文🙂\u200b\u202e\ufeff\x00\ud800Ω∑"


def _fuzz_reply(rng: random.Random) -> str:
    """One malformed or adversarial reply; a few are valid so the parser is also tried."""
    good = json.dumps({"title": rng.choice(["a", "b c", "ü"]), "tests": [rng.randint(0, 9)]})
    kind = rng.randrange(14)
    if kind == 0:  # truncated JSON
        return good[: rng.randrange(len(good))]
    if kind == 1:  # wrong types
        value = rng.choice([None, 1, "x", [], {}, [["a"]], 1e309, True])
        return json.dumps({"title": value, "tests": rng.choice([value, "1", [None], {"a": 1}])})
    if kind == 2:  # fences everywhere
        parts = ["```" + rng.choice(["", "json", "python", "js", "```"]) for _ in range(6)]
        parts.insert(rng.randrange(len(parts)), good if rng.random() < 0.5 else good[:-3])
        return "\n".join(parts)
    if kind == 3:  # empty or whitespace
        return rng.choice(["", " ", "\n\n", "```", "```json\n```", "{}", "null"])
    if kind == 4:  # nested junk
        depth = rng.randint(1, 3000)
        return rng.choice(["{", "[", '{"a":']) * depth + rng.choice(["", "]" * depth, "}"])
    if kind == 5:  # random characters from JSON's alphabet
        return "".join(rng.choice(_JUNK_CHARS) for _ in range(rng.randint(1, 400)))
    if kind == 6:  # unicode, control characters, lone surrogates
        noise = "".join(rng.choice(_UNICODE) for _ in range(rng.randint(1, 60)))
        return rng.choice(
            [noise, noise + good, good.replace("a", noise), f'{{"title": "{noise}"}}']
        )
    if kind == 7:  # JSON-ish that JSON forbids
        return rng.choice(
            [
                "{'title': 'a', 'tests': [1]}",
                '{"title": "a", "tests": [NaN]}',
                '{"title": "a", /* c */ "tests": [1]}',
                '{title: "a", tests: [1]}',
                '{"title": "a", "tests": [1]} {"title": "b", "tests": [2]}',
                '{"title": "a", "title": "b", "tests": [1]}',
                '{"tests": [' + "9" * 5000 + "]}",
            ]
        )
    if kind == 8:  # prose around several objects, some invalid
        objs = [json.dumps({"title": "", "tests": []}), good[:-1], json.dumps([GOOD])]
        rng.shuffle(objs)
        return " and then ".join(["Draft:", *objs, "done"])
    if kind == 9:  # extra fields and nesting the schema does not expect
        return json.dumps({"draft": json.loads(good), "title": {"nested": [1, {"x": None}]}})
    if kind == 10:  # code instead of JSON
        return "```python\ndef solve(x):\n    return {'title': x}\n```"
    if kind == 11:  # valid (the parser must still find these)
        return rng.choice([good, f"```json\n{good}\n```", f"Answer: {good}."])
    if kind == 12:  # enormous: about 1 MB
        size = 1_000_000
        return rng.choice(
            [
                "{" * size,
                "`" * size,
                "x" * size,
                '{"title": "' + "a" * size + '", "tests": [1]}',
                "```json\n{\n" * (size // 10),
                "[" * size,
                '{"a":1,' * (size // 7),
            ]
        )
    # kind 13: a valid object with junk spliced in at a random point
    cut = rng.randrange(len(good))
    return good[:cut] + rng.choice(["}", "{", '"', "```", "\\", ",,", "\x00"]) + good[cut:]


async def test_fuzz_1000_replies_never_crash(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(0)
    enormous = 0
    replies = []
    for _ in range(1000):
        first, second = _fuzz_reply(rng), _fuzz_reply(rng)
        if len(first) >= 1_000_000 or len(second) >= 1_000_000:
            enormous += 1
            if enormous > 6:  # a handful is enough; keeps the test to a few seconds
                first, second = first[:5000], second[:5000]
        replies.append((first, second))
    start = time.perf_counter()
    parsed = failed = 0
    for first, second in replies:
        model = FakeListChatModel(responses=[first, second])
        draft, failure = await ainvoke_parsed(model, [HumanMessage("write")], Draft)
        if draft is not None:
            assert failure is None and isinstance(draft, Draft)
            parsed += 1
        else:
            assert failure is not None and failure.reason.strip()
            assert len(failure.reason) <= 1200
            failed += 1
    assert parsed + failed == 1000 and parsed > 50 and failed > 500
    assert time.perf_counter() - start < 30


# ---- student code -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("```python\ndef solve(x):\n    return x\n```", "def solve(x):\n    return x"),
        (
            "Helper:\n```python\ndef helper():\n    pass\n```\nAnswer:\n```python\n"
            "def solve(x):\n    return 1\n```\nUse:\n```python\nprint(solve(2))\n```",
            "def solve(x):\n    return 1",
        ),
        ("```py\nimport sys\nprint(sys.stdin.read())\n```", "import sys\nprint(sys.stdin.read())"),
        ("```\ndef solve(x):\n    return 2\n```", "def solve(x):\n    return 2"),
        ("def solve(x):\n    return 3\n", "def solve(x):\n    return 3"),
        (
            "Here is my answer.\ndef solve(x):\n    return 4\nThis works because it returns 4.",
            "def solve(x):\n    return 4",
        ),
        (
            "<think>```python\ndef solve(): wrong\n```</think>"
            "```python\ndef solve(x):\n    return 5\n```",
            "def solve(x):\n    return 5",
        ),
        ("```python\ndef solve(x):\n    return 6\n", "def solve(x):\n    return 6"),  # cut off
    ],
)
def test_extract_code(reply: str, expected: str) -> None:
    assert extract_code(reply, "solve") == expected


@pytest.mark.parametrize(
    "reply", ["", "I don't know.", "```text\nno code here at all\n```", "```python\ndef (:\n```"]
)
def test_extract_code_none(reply: str) -> None:
    assert extract_code(reply, "solve") is None
