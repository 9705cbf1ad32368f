"""The harness's JSON helpers are json.dumps / json.loads, text for text and error for error.

They skip json's Python layers (a page fault per object a forked child touches), so what a
solution returns must still be encoded exactly as json.dumps would: the host compares that
text with the expected output.
"""

from __future__ import annotations

import json
import math

import pytest

from stepstones.tools.sandbox import harness_child as hc

VALUES = [
    None,
    True,
    False,
    0,
    -7,
    10**40,
    1.5,
    0.1 + 0.2,
    -0.0,
    math.inf,
    -math.inf,
    "",
    "abc",
    "é\u2603\U0001f600",
    'quote" back\\ tab\t nl\n nul\x00',
    "\ud800",
    [],
    [1, [2, [3, []]]],
    (1, 2),
    {},
    {"a": 1, "b": [True, None]},
    {1: "int key", 2.5: "float key", False: "bool key", None: "none key"},
]


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_dumps_is_json_dumps(value: object) -> None:
    assert hc.dumps(value) == json.dumps(value)


def test_dumps_nan_is_json_dumps() -> None:
    assert hc.dumps([math.nan]) == json.dumps([math.nan]) == "[NaN]"


def test_dumps_errors_are_json_dumps_errors() -> None:
    loop: list[object] = []
    loop.append(loop)
    with pytest.raises(ValueError, match="Circular reference"):
        hc.dumps(loop)
    with pytest.raises(ValueError, match="Circular reference"):  # markers are fresh each call
        hc.dumps(loop)
    assert hc.dumps([1]) == "[1]"
    for bad in (object(), {1, 2}, b"bytes", {(1, 2): 3}):
        with pytest.raises(TypeError) as ours:
            hc.dumps(bad)
        with pytest.raises(TypeError) as theirs:
            json.dumps(bad)
        assert str(ours.value) == str(theirs.value)


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_encode_is_json_dumps_without_ascii(value: object) -> None:
    assert hc.encode(value) == json.dumps(value, ensure_ascii=False)


TEXTS = [
    "[1, 2]",
    '{"i": 0, "s": "ok", "o": "3", "e": null, "c": 0.5}',
    " [1] ",
    "\n[1]\t",
    "[1] x",
    "",
    " ",
    "[1,",
    "NaN",
    "-Infinity",
    '"\\ud800"',
    "1e400",
    "[" * 100 + "]" * 100,
]


@pytest.mark.parametrize("text", TEXTS)
def test_loads_is_json_loads(text: str) -> None:
    for given in (text, text.encode("utf-8")):
        try:
            expected: object = json.loads(given)
        except ValueError as exc:
            with pytest.raises(type(exc)) as ours:
                hc.loads(given)
            assert str(ours.value) == str(exc)
            continue
        got = hc.loads(given)
        assert json.dumps(got) == json.dumps(expected)


def test_loads_takes_what_json_loads_takes_in_bytes() -> None:
    for raw in ('{"a": 1}'.encode("utf-16"), b'\xef\xbb\xbf{"a": 1}', b'"\xed\xa0\x80"'):
        assert hc.loads(raw) == json.loads(raw)


def test_loads_deep_nesting_is_a_recursion_error_as_in_json() -> None:
    deep = "[" * 100_000 + "]" * 100_000
    with pytest.raises(RecursionError):
        json.loads(deep)
    with pytest.raises(RecursionError):
        hc.loads(deep)
