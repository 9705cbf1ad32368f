"""Shared helpers for writing task families: code templates, bug derivation, expected outputs.

Expected outputs are never hand-written: `build` runs the reference in this process on every
generated input, so a family can only be wrong in one place (its reference). Bugs are mostly the
reference with one realistic edit (`swap`), which keeps each wrong solution a complete program and
makes the edit fail loudly at generation time if the reference changes under it.
"""

from __future__ import annotations

import contextlib
import io
import json
import random
import sys
import textwrap
from collections.abc import Sequence
from string import Template
from typing import Any

from stepstones.agents.families.base import BugKind, FamilyInstance
from stepstones.tools.schema import IOStyle, TestCase

MIN_TESTS = 8
MAX_TESTS = 14


def code(template: str, **subs: object) -> str:
    """Dedented `template` with `$name` placeholders filled (`$` never occurs in our Python)."""
    text = textwrap.dedent(template).strip("\n") + "\n"
    return Template(text).substitute({k: str(v) for k, v in subs.items()})


def swap(source: str, old: str, new: str, count: int = 1) -> str:
    """`source` with `old` replaced by `new` (`count` times); raises if `old` is absent.

    Bugs are derived from the reference this way, so a reference edit that invalidates a bug
    is caught at generation time instead of silently producing a bug equal to the reference.
    """
    if old not in source:
        raise ValueError(f"bug edit target not found in reference: {old!r}")
    return source.replace(old, new, count)


def pick(rng: random.Random, options: Sequence[str]) -> str:
    """One of `options`, drawn with `rng` (never the global random module)."""
    return options[rng.randrange(len(options))]


def _roundtrip(value: Any) -> Any:
    """What the sandbox hands a solution: the JSON form of the value (tuples become lists)."""
    return json.loads(json.dumps(value))


def run_function(source: str, entry_point: str, inputs: Sequence[Sequence[Any]]) -> list[str]:
    """JSON outputs of `entry_point(*args)` for each args list, run in this process."""
    namespace: dict[str, Any] = {"__name__": "__family__"}
    exec(compile(source, f"<{entry_point}>", "exec"), namespace)
    fn = namespace[entry_point]
    return [json.dumps(fn(*_roundtrip(list(args)))) for args in inputs]


def run_stdio(source: str, inputs: Sequence[str]) -> list[str]:
    """Stdout of the program `source` for each stdin text, run in this process."""
    compiled = compile(source, "<stdio>", "exec")
    outputs = []
    for text in inputs:
        out = io.StringIO()
        saved = sys.stdin
        sys.stdin = io.StringIO(text)
        try:
            with contextlib.redirect_stdout(out):
                exec(compiled, {"__name__": "__main__"})
        finally:
            sys.stdin = saved
        outputs.append(out.getvalue())
    return outputs


def show(value: Any) -> str:
    """A Python-literal rendering of a JSON value, as the statement's example shows it."""
    return repr(value)


def build(
    *,
    family: str,
    level: int,
    title: str,
    statement: str,
    entry_point: str,
    reference: str,
    inputs: Sequence[Any],
    bugs: dict[BugKind, str],
    io_style: IOStyle = "function",
) -> FamilyInstance:
    """A FamilyInstance whose expected outputs come from running `reference` on `inputs`.

    The first input becomes the statement's worked example, so it should be small and telling.
    Function style: each input is a list of positional arguments; stdio: each is stdin text.
    """
    if not MIN_TESTS <= len(inputs) <= MAX_TESTS:
        raise ValueError(f"{family} L{level}: {len(inputs)} tests, want {MIN_TESTS}-{MAX_TESTS}")
    if len(bugs) < 3:
        raise ValueError(f"{family} L{level}: only {len(bugs)} bugs")
    if io_style == "function":
        outputs = run_function(reference, entry_point, inputs)
        tests = [
            TestCase(input=json.dumps(list(a)), expected=o)
            for a, o in zip(inputs, outputs, strict=True)
        ]
        args = ", ".join(show(a) for a in _roundtrip(list(inputs[0])))
        example = f"Example: `{entry_point}({args})` returns `{show(json.loads(outputs[0]))}`."
    else:
        outputs = run_stdio(reference, inputs)
        tests = [TestCase(input=i, expected=o) for i, o in zip(inputs, outputs, strict=True)]
        example = (
            f"Example input:\n\n```\n{inputs[0].rstrip()}\n```\n\n"
            f"Expected output:\n\n```\n{outputs[0].rstrip()}\n```"
        )
    body = textwrap.dedent(statement).strip()
    return FamilyInstance(
        family=family,
        level=level,
        title=title,
        statement=f"{body}\n\n{example}",
        entry_point=entry_point,
        io_style=io_style,
        tests=tests,
        reference_solution=reference,
        bugs=bugs,
    )


def check_level(family: str, level: int, levels: int) -> None:
    """Raise ValueError for a level outside 1..levels (the teacher clamps, callers may not)."""
    if not 1 <= level <= levels:
        raise ValueError(f"family {family!r} has levels 1..{levels}, got {level}")


def word(rng: random.Random, alphabet: str, lo: int, hi: int) -> str:
    """A random string over `alphabet` with length in [lo, hi]."""
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(lo, hi)))


def runs(rng: random.Random, alphabet: str, count: int, longest: int) -> str:
    """A string of `count` runs of random letters, each up to `longest` long."""
    return "".join(rng.choice(alphabet) * rng.randint(1, longest) for _ in range(count))
