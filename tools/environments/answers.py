"""A student's answer as data: the value or argument list in a reply, parsed without running it.

Deduction, abduction and fuzzing students answer with a value, not code. The answer is read
with `json.loads` or `ast.literal_eval` (never eval), bounded in size and depth, and handed on
as canonical JSON text, so whatever a reply holds reaches the sandbox only as data: it can make
an answer wrong, never crash the judge or pass. Stdlib only, linear on any input.
"""

from __future__ import annotations

import ast
import json
from typing import Any

from stepstones.tools.codeblocks import THINK, fences

MAX_ANSWER_CHARS = 100_000
"""Longer answers are no answer (a real one is a few lines)."""

MAX_DEPTH = 64
"""Deeper nesting is no answer: no task here needs it, and it only tests the parser."""

ANSWER_LANGS = ("json", "input", "output", "answer")
CODE_LANGS = ("python", "py", "python3", "")


def _depth_ok(value: Any) -> bool:
    stack = [(value, 0)]
    while stack:
        v, d = stack.pop()
        if d > MAX_DEPTH:
            return False
        if isinstance(v, list | tuple):
            stack.extend((x, d + 1) for x in v)
        elif isinstance(v, dict):
            stack.extend((x, d + 1) for x in v.values())
    return True


def _canonical(value: Any) -> str | None:
    """JSON text of a parsed value the way the harness would dump it (tuples are lists), or
    None for anything JSON cannot hold (sets, bytes, complex, NaN) or too big or deep."""
    if not _depth_ok(value):
        return None
    try:
        text = json.dumps(value, allow_nan=False, ensure_ascii=False)
    except (TypeError, ValueError, RecursionError, MemoryError, OverflowError):
        return None
    return text if len(text) <= MAX_ANSWER_CHARS else None


def parse_value(text: str) -> str | None:
    """The value `text` writes (JSON, else a Python literal), as canonical JSON text, or None."""
    text = text.strip()
    if not text or len(text) > MAX_ANSWER_CHARS:
        return None
    try:
        return _canonical(json.loads(text))
    except (ValueError, RecursionError, MemoryError, OverflowError):
        pass
    try:
        return _canonical(ast.literal_eval(text))
    except (ValueError, TypeError, SyntaxError, RecursionError, MemoryError, OverflowError):
        return None


def parse_call(text: str, entry_point: str) -> str | None:
    """`entry_point(1, [2])` written as a call of literals -> its argument list as JSON text."""
    text = text.strip()
    if not text or len(text) > MAX_ANSWER_CHARS:
        return None
    try:
        node = ast.parse(text, mode="eval").body
        if not (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == entry_point
            and not node.keywords
        ):
            return None
        return _canonical([ast.literal_eval(a) for a in node.args])
    except (ValueError, TypeError, SyntaxError, RecursionError, MemoryError, OverflowError):
        return None


def candidates(reply: str) -> list[str]:
    """Texts that may hold the answer, best first: the last answer-fenced block, the last code
    or plain fenced block, then (with no fences) the whole reply and its last line."""
    text = THINK.sub("", reply or "")
    if len(text) > 4 * MAX_ANSWER_CHARS:
        text = text[-4 * MAX_ANSWER_CHARS :]
    blocks = fences(text)
    if blocks:
        ordered = [b for lang, b in reversed(blocks) if lang in ANSWER_LANGS]
        ordered += [b for lang, b in reversed(blocks) if lang in CODE_LANGS]
        return ordered
    stripped = text.strip()
    lines = [line for line in stripped.splitlines() if line.strip()]
    return [stripped, lines[-1]] if lines else []


def answer_value(reply: str) -> str | None:
    """The value a reply answers, as canonical JSON text; None when it holds none."""
    for text in candidates(reply):
        value = parse_value(text)
        if value is not None:
            return value
    return None


def answer_args(reply: str, entry_point: str) -> str | None:
    """The argument list a reply answers (a JSON array, a Python list or tuple, or a call
    `entry_point(...)`), as canonical JSON array text; None when it holds none."""
    for text in candidates(reply):
        value = parse_value(text)
        if value is not None and value.startswith("["):
            return value
        call = parse_call(text, entry_point)
        if call is not None:
            return call
    return None
