"""Valid, distinct tasks of every environment from a number: the stand-in teacher's material.

The end-to-end benchmark's teacher must write problems the critic accepts and the bank does
not reject as near-duplicates, round after round, without a model. A task here is a pipeline
of three list operations (scale, filter, sort, prefix sums, ...) and a final reduction, drawn
from `Random(variant)`, so the same variant is always the same task, in every process. Each
task also knows its right answer and a wrong one (the students' replies) and how likely a
student is to get it right, so pass rates spread over the bands as a real curriculum's do.

The task's id, `task ENV-VARIANT`, is written where the student sees it (the statement, the
message, or a comment in the shown program): the stand-in's student reads it back from its
prompt. Dedup ignores comments, and a statement differs from the next in far more than the id.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

TASK_ID = re.compile(r"task (code|induction|deduction|abduction|fuzzing)-(\d+)")
"""How a task names itself in what the student sees."""

Op = Callable[[random.Random], tuple[str, str]]


def _affine(rng: random.Random) -> tuple[str, str]:
    a, b = rng.randint(2, 5), rng.randint(-4, 6)
    return f"xs = [x * {a} + {b} for x in xs]", f"multiply every element by {a} and add {b}"


def _drop_residue(rng: random.Random) -> tuple[str, str]:
    m = rng.randint(2, 5)
    r = rng.randrange(m)
    return (
        f"xs = [x for x in xs if x % {m} != {r}]",
        f"drop the elements whose remainder modulo {m} is {r}",
    )


def _clamp(rng: random.Random) -> tuple[str, str]:
    lo = rng.randint(-10, 0)
    hi = lo + rng.randint(5, 25)
    return f"xs = [min(max(x, {lo}), {hi}) for x in xs]", f"clamp each element into {lo}..{hi}"


def _abs_mod(rng: random.Random) -> tuple[str, str]:
    m = rng.randint(3, 11)
    return f"xs = [abs(x) % {m} for x in xs]", f"replace each element by its absolute value mod {m}"


def _rotate(rng: random.Random) -> tuple[str, str]:
    k = rng.randint(1, 3)
    return f"xs = xs[{k}:] + xs[:{k}]", f"rotate the list left by {k} positions"


def _fixed(code: str, text: str) -> Op:
    return lambda _rng: (code, text)


OPS: tuple[Op, ...] = (
    _affine,
    _drop_residue,
    _clamp,
    _abs_mod,
    _rotate,
    _fixed("xs = sorted(xs)", "sort them in ascending order"),
    _fixed("xs = sorted(xs, reverse=True)", "sort them in descending order"),
    _fixed("xs = xs[::-1]", "reverse their order"),
    _fixed("xs = xs[::2]", "keep the elements at even positions (0, 2, 4, ...)"),
    _fixed("xs = list(dict.fromkeys(xs))", "remove repeated values, keeping first occurrences"),
    _fixed(
        "xs = [sum(xs[: i + 1]) for i in range(len(xs))]",
        "replace each element by the sum of the elements up to and including it",
    ),
    _fixed(
        "xs = [b - a for a, b in zip(xs, xs[1:])]",
        "replace the list by the differences of neighbouring elements (each minus the one before)",
    ),
)

FINALS: tuple[tuple[str, str], ...] = (
    ("sum(xs)", "return their sum"),
    ("len(xs)", "return how many elements remain"),
    ("xs", "return the resulting list"),
    ("max(xs, default=-1)", "return the largest, or -1 if none remain"),
    ("sum(x * x for x in xs)", "return the sum of their squares"),
)


@dataclass(frozen=True)
class Task:
    """One task of one environment: the teacher's draft and the students' two replies."""

    environment: str
    variant: int
    draft: dict[str, Any]
    right: str
    """The answer part of a reply that gets it right (a code or a JSON block)."""
    wrong: str
    """The answer part of a reply that gets it wrong (the sandbox decides; usually wrong)."""
    pass_p: float
    """How likely a student's sample is right."""


def pass_probability(environment: str, variant: int) -> float:
    """The task's difficulty as a student's chance per sample, spread over 0.05-0.95."""
    return 0.05 + 0.9 * random.Random(f"p:{environment}:{variant}").random()


def _ints(rng: random.Random, n: int) -> list[int]:
    return [rng.randint(-20, 20) for _ in range(n)]


def _program(entry: str, tag: str, lines: list[str], final: str, arg: str = "xs") -> str:
    body = "".join(f"    {line}\n" for line in lines)
    return f"def {entry}({arg}):\n    # {tag}\n{body}    return {final}\n"


def _block(kind: str, text: str) -> str:
    return f"```{kind}\n{text.strip()}\n```"


def _json(value: Any) -> str:
    return _block("json", json.dumps(value))


def _run(program: str, entry: str, args: list[Any]) -> Any:
    """The value the program returns (our own generated code, run here to know the answer)."""
    scope: dict[str, Any] = {}
    exec(program, scope)
    return scope[entry](*args)


def _fuzzing(variant: int, tag: str, rng: random.Random) -> tuple[dict[str, Any], str, str]:
    lo = rng.randint(-20, 5)
    hi = lo + rng.randint(10, 60)
    a, b = rng.randint(2, 7), rng.randint(-9, 9)
    form, what = rng.choice(
        [
            (f"max({lo}, min(x * {a} + {b}, {hi}))", f"scales x by {a}, shifts it by {b}"),
            (f"max({lo}, min(abs(x - {b}), {hi}))", f"takes the distance of x from {b}"),
            (f"{lo} + (x * {a}) % ({hi - lo + 1})", f"wraps {a} times x around the range"),
            (f"min({hi}, max({lo}, sum(int(d) for d in str(abs(x)))))", "sums x's digits"),
        ]
    )
    witness = rng.randint(100, 999) * rng.choice([1, -1])
    program = (
        f"def f(x):\n    # {tag}\n    if x == {witness}:\n        return {hi + rng.randint(1, 9)}\n"
        f"    return {form}\n"
    )
    inputs = [[w] for w in rng.sample(range(-99, 99), 3)]
    draft = {
        "title": f"Range check {variant}",
        "message": f"f {what} and keeps the result within {lo}..{hi} ({tag}).",
        "entry_point": "f",
        "program": program,
        "pre_test": "def pre_test(x):\n    return isinstance(x, int)\n",
        "test": f"def test(x):\n    return {lo} <= f(x) <= {hi}\n",
        "witness": [witness],
        "inputs": inputs,
    }
    return draft, _json([witness]), _json(inputs[0])


def make_task(environment: str, variant: int) -> Task:
    """The task `variant` of `environment` (the same everywhere, every time)."""
    rng = random.Random(f"{environment}:{variant}")
    tag = f"task {environment}-{variant}"
    p = pass_probability(environment, variant)
    draft: dict[str, Any]
    if environment == "fuzzing":
        draft, right, wrong = _fuzzing(variant, tag, rng)
        return Task(environment, variant, draft, right, wrong, p)
    ops = [op(rng) for op in rng.sample(OPS, 3)]
    final, final_text = rng.choice(FINALS)
    steps = "; then ".join(text for _, text in ops)
    entry = "solve" if environment == "code" else "f"
    program = _program(entry, tag, [code for code, _ in ops], final)
    # A slip: the first step forgotten and the result off by one.
    off = "xs[1:]" if final == "xs" else f"{final} + 1"
    slip = _program(entry, tag, [code for code, _ in ops[1:]], off)
    if environment in ("code", "induction"):
        inputs = [[[]], *([_ints(rng, rng.randint(1, 8))] for _ in range(5))]
        right, wrong = _block("python", program), _block("python", slip)
        if environment == "code":
            draft = {
                "title": f"List pipeline {variant}",
                "statement": (
                    f"Given a list of integers xs: {steps}; finally {final_text}. "
                    f"Write solve(xs) ({tag})."
                ),
                "entry_point": "solve",
                "inputs": inputs,
                "reference_solution": program,
            }
        else:
            kind = "a list of integers" if final == "xs" else "an integer"
            draft = {
                "title": f"Hidden pipeline {variant}",
                "message": f"f takes a list of integers and returns {kind} ({tag}).",
                "entry_point": "f",
                "program": program,
                "inputs": inputs,
                "shown": 3,
            }
        return Task(environment, variant, draft, right, wrong, p)
    args = [_ints(rng, rng.randint(5, 7))]
    probes = [[_ints(rng, rng.randint(2, 6))] for _ in range(2)]
    draft = {
        "title": f"Trace {variant}",
        "entry_point": "f",
        "program": program,
        "input": args,
        "probes": probes,
    }
    if environment == "deduction":
        value = _run(program, "f", args)
        slipped = value + 1 if isinstance(value, int) else [*value, 0]
        return Task(environment, variant, draft, _json(value), _json(slipped), p)
    if environment == "abduction":
        return Task(environment, variant, draft, _json(args), _json(probes[0]), p)
    raise ValueError(f"no bench tasks for environment {environment!r}")
