"""Python code in a model's reply: what a student wrote, or a completion a trainer scores.

Lives in tools/ because both sides need it: the student agent extracts its attempts here, and
the reward function (tools/reward.py) must extract code from a trainer's completions exactly the
same way. Stdlib only, linear on any input.
"""

from __future__ import annotations

import ast
import re

MAX_FENCES = 32
"""Fenced blocks looked at per reply (a real reply has a handful)."""

THINK = re.compile(r"<think>.*?(?:</think>|\Z)", re.DOTALL | re.IGNORECASE)
"""Reasoning sections, dropped before looking for code or JSON."""


def fences(text: str) -> list[tuple[str, str]]:
    """(language, body) of each ``` fenced block, line by line (linear on any input); an
    unclosed last fence (a reply cut off by max_tokens) runs to the end."""
    blocks: list[tuple[str, str]] = []
    lang: str | None = None
    body: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        if lang is None:
            if stripped.startswith("```"):
                words = stripped.lstrip("`").split(maxsplit=1)
                lang = words[0].lower() if words else ""
                body = []
        elif stripped.startswith("```"):
            blocks.append((lang, "\n".join(body)))
            lang = None
            if len(blocks) >= MAX_FENCES:
                return blocks
        else:
            body.append(line)
    if lang is not None:
        blocks.append((lang, "\n".join(body)))
    return blocks


def _defines(tree: ast.Module, entry_point: str) -> bool:
    return any(
        isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
        and node.name == entry_point
        for node in tree.body
    )


def _parse(code: str) -> ast.Module | None:
    try:
        return ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


_CODE_START = re.compile(r"^(?:def |async def |class |import |from |@)", re.MULTILINE)


def _bare_code(text: str) -> str | None:
    """Code without fences: the whole reply if it parses, else from the first def/import on,
    dropping trailing prose lines until it parses."""
    if _parse(text) is not None and _CODE_START.search(text):
        return text
    start = _CODE_START.search(text)
    if start is None:
        return None
    lines = text[start.start() :].splitlines()
    for end in range(len(lines), max(0, len(lines) - 40), -1):
        code = "\n".join(lines[:end])
        if _parse(code) is not None:
            return code
    return None


def extract_code(text: str, entry_point: str) -> str | None:
    """The Python program in a student reply, or None if there is none.

    Preference: a python-fenced block defining `entry_point`, any fenced block defining it, the
    first python block that parses, the first fenced block that parses, then bare code. Reasoning
    sections (<think>...</think>) are dropped first.
    """
    text = THINK.sub("", text or "")
    blocks = [(lang, body.strip("\n")) for lang, body in fences(text)]
    parsed = [(lang, body, tree) for lang, body in blocks if (tree := _parse(body)) is not None]
    is_py = ("python", "py", "python3")
    for want_python in (True, False):
        for lang, body, tree in parsed:
            if (lang in is_py or not want_python) and _defines(tree, entry_point):
                return body
    for want_python in (True, False):
        for lang, body, _tree in parsed:
            if (lang in is_py or (not want_python and lang == "")) and body.strip():
                return body
    if blocks:
        return None  # fenced, but nothing in the fences is Python
    return _bare_code(text.strip())
