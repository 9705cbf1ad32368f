"""Mutants of a reference solution and trivial stand-ins, for judging whether tests discriminate.

A test suite that a one-token change to the reference still passes, or that `return None`
passes, gives an RL trainer a reward it can collect without solving the problem. The critic
runs these against the tests; simulated students reuse the mutants as realistic bugs when a
problem has no known wrong solutions.
"""

from __future__ import annotations

import ast
import json
import random
import re
from collections.abc import Callable, Sequence
from functools import lru_cache

from stepstones.tools.sandbox.judge import outputs_match
from stepstones.tools.schema import TestCase

_COMPARE_SWAPS: dict[type[ast.cmpop], type[ast.cmpop]] = {
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
}
_BINOP_SWAPS: dict[type[ast.operator], type[ast.operator]] = {
    ast.Add: ast.Sub,
    ast.Sub: ast.Add,
    ast.Mult: ast.Add,
    ast.FloorDiv: ast.Mult,
    ast.Mod: ast.FloorDiv,
}


Output = Callable[[str], str | None]
"""What a trivial solution prints or returns on a test's input (None: only the sandbox knows)."""


def _constant(text: str) -> Output:
    def output(_input: str) -> str | None:
        return text

    return output


def _echo(stdin: str) -> str | None:
    return stdin


def _first_argument(args_json: str) -> str | None:
    """What `return args[0] if args else None` returns on a test's input, as JSON (None: the
    input is not an argument array, so the sandbox decides)."""
    try:
        args = json.loads(args_json)
    except (ValueError, RecursionError):
        return None
    if not isinstance(args, list):
        return None
    return json.dumps(args[0] if args else None)


# One row per trivial solution: its code (a program, or a function body) and what it outputs,
# so the solution the critic runs and the output it predicts without running it never drift.
_TRIVIAL_STDIO: dict[str, tuple[str, Output]] = {
    "prints_nothing": ("pass\n", _constant("")),
    "echoes_input": ("import sys\nsys.stdout.write(sys.stdin.read())\n", _echo),
    "prints_zero": ("print(0)\n", _constant("0\n")),
}
_TRIVIAL_FUNCTION: dict[str, tuple[str, Output]] = {
    "returns_none": ("return None", _constant("null")),
    "returns_zero": ("return 0", _constant("0")),
    "returns_empty_list": ("return []", _constant("[]")),
    "returns_empty_string": ("return ''", _constant('""')),
    "returns_first_argument": ("return args[0] if args else None", _first_argument),
    "returns_true": ("return True", _constant("true")),
}


def trivial_solutions(entry_point: str, io_style: str = "function") -> dict[str, str]:
    """Solutions that do no work: each must fail at least one test of a sound problem."""
    if io_style == "stdio":
        return {name: code for name, (code, _) in _TRIVIAL_STDIO.items()}
    return {
        name: f"def {entry_point}(*args, **kwargs):\n    {body}\n"
        for name, (body, _) in _TRIVIAL_FUNCTION.items()
    }


def trivially_passing(tests: Sequence[TestCase], io_style: str = "function") -> list[str]:
    """Names of `trivial_solutions` that pass every test, decided without running them.

    Each trivial solution's output is a constant or its own input, so whether it passes is a
    comparison of the tests' data under the judge's own rule (`outputs_match`). The critic asks
    this before the sandbox, so weak tests cost no verdict; it still runs them on a problem
    that gets past this (the judge's limits aside, the two agree: these do no work).
    """
    table = _TRIVIAL_STDIO if io_style == "stdio" else _TRIVIAL_FUNCTION
    return [
        name
        for name, (_, output) in table.items()
        if all(
            (got := output(t.input)) is not None and outputs_match(got, t.expected, io_style)
            for t in tests
        )
    ]


_OP_TEXT: dict[type[ast.AST], str] = {
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Gt: ">",
    ast.GtE: ">=",
    ast.Eq: "==",
    ast.NotEq: "!=",
    ast.Add: "+",
    ast.Sub: "-",
    ast.Mult: "*",
    ast.FloorDiv: "//",
    ast.Mod: "%",
}
_PRECEDENCE: dict[type[ast.AST], int] = {
    **dict.fromkeys((ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.Eq, ast.NotEq), 1),
    ast.Add: 2,
    ast.Sub: 2,
    ast.Mult: 3,
    ast.FloorDiv: 3,
    ast.Mod: 3,
}
_OP_TOKEN = re.compile(r"\*\*|//|[<>=!]=|<<|>>|[-+*/%@<>&|^]")


class _Sites(ast.NodeVisitor):
    """Every mutable site, (kind, node), in walk order (operands before their operator)."""

    def __init__(self) -> None:
        self.sites: list[tuple[str, ast.AST]] = []

    def visit_Compare(self, node: ast.Compare) -> None:
        self.generic_visit(node)
        if type(node.ops[0]) in _COMPARE_SWAPS:
            self.sites.append(("comparison", node))

    def visit_BinOp(self, node: ast.BinOp) -> None:
        self.generic_visit(node)
        if type(node.op) in _BINOP_SWAPS:
            self.sites.append(("operator", node))

    def visit_Constant(self, node: ast.Constant) -> None:
        value = node.value
        if isinstance(value, int) and not isinstance(value, bool):
            self.sites.append(("off_by_one", node))


def _sites(tree: ast.AST) -> list[tuple[str, ast.AST]]:
    finder = _Sites()
    finder.visit(tree)
    return finder.sites


def _mutate_in_place(node: ast.AST) -> None:
    """Apply a site's one mutation to its node (the slow path: the tree is then unparsed)."""
    if isinstance(node, ast.Compare):
        node.ops[0] = _COMPARE_SWAPS[type(node.ops[0])]()
    elif isinstance(node, ast.BinOp):
        node.op = _BINOP_SWAPS[type(node.op)]()
    elif isinstance(node, ast.Constant) and isinstance(node.value, int):
        node.value = node.value + 1


class _Source:
    """The source as UTF-8 bytes, addressed like ast positions (line, byte column)."""

    def __init__(self, code: str) -> None:
        self.data = code.encode("utf-8")
        self.starts = [0]
        for line in self.data.splitlines(keepends=True):
            self.starts.append(self.starts[-1] + len(line))

    def offset(self, line: int | None, col: int | None) -> int:
        if line is None or col is None:
            raise ValueError("no position")
        return self.starts[line - 1] + col

    def splice(self, start: int, end: int, text: str) -> str:
        return (self.data[:start] + text.encode("utf-8") + self.data[end:]).decode("utf-8")


def _op_edit(
    src: _Source, node: ast.expr, left: ast.expr, right: ast.expr, op: ast.AST, new: ast.AST
) -> str | None:
    """The source with the operator between `left` and `right` replaced, if it is unambiguous.

    A new operator that binds less tightly (`*` -> `+`) gets the node bracketed, as unparsing
    the mutated tree would: `a * b % m` must become `(a + b) % m`, not `a + b % m`.
    """
    start = src.offset(left.end_lineno, left.end_col_offset)
    end = src.offset(right.lineno, right.col_offset)
    gap = src.data[start:end].decode("utf-8")
    # Between two operands there are only brackets, spaces, line breaks, comments and the op.
    found: list[tuple[int, str]] = []
    pos = 0
    for line in gap.splitlines(keepends=True):
        found += [(pos + m.start(), m.group()) for m in _OP_TOKEN.finditer(line.split("#", 1)[0])]
        pos += len(line)
    if len(found) != 1 or found[0][1] != _OP_TEXT[type(op)]:
        return None
    where = start + len(gap[: found[0][0]].encode("utf-8"))
    after = where + len(found[0][1])
    data, text = src.data, _OP_TEXT[type(new)].encode("utf-8")
    if _PRECEDENCE[type(new)] >= _PRECEDENCE[type(op)]:
        return src.splice(where, after, _OP_TEXT[type(new)])
    first = src.offset(node.lineno, node.col_offset)
    last = src.offset(node.end_lineno, node.end_col_offset)
    return (
        data[:first] + b"(" + data[first:where] + text + data[after:last] + b")" + data[last:]
    ).decode("utf-8")


def _edit(src: _Source, kind: str, node: ast.AST) -> str | None:
    """The source with one site mutated as `_mutate_in_place` would, or None where the text is
    not plain enough to edit safely (the caller then unparses the mutated tree instead)."""
    try:
        if kind == "off_by_one" and isinstance(node, ast.Constant):
            value = node.value
            if not isinstance(value, int):
                return None
            start = src.offset(node.lineno, node.col_offset)
            end = src.offset(node.end_lineno, node.end_col_offset)
            if ast.literal_eval(src.data[start:end].decode("utf-8")) != value:
                return None
            return src.splice(start, end, repr(value + 1))
        if kind == "comparison" and isinstance(node, ast.Compare):
            op = node.ops[0]
            return _op_edit(
                src, node, node.left, node.comparators[0], op, _COMPARE_SWAPS[type(op)]()
            )
        if kind == "operator" and isinstance(node, ast.BinOp):
            return _op_edit(
                src, node, node.left, node.right, node.op, _BINOP_SWAPS[type(node.op)]()
            )
    except (ValueError, SyntaxError, UnicodeDecodeError, IndexError):
        return None
    return None


def mutants(code: str, limit: int = 6, seed: int = 0) -> tuple[tuple[str, str], ...]:
    """Up to `limit` single-site mutants of `code` as (kind, source); none if it does not parse.

    Sites are sampled with `Random(seed)` so the same code always yields the same mutants.
    Cached: the critic and every simulated student ask for the same reference's mutants.
    """
    return _mutants(code, limit, seed)


@lru_cache(maxsize=512)
def _mutants(code: str, limit: int, seed: int) -> tuple[tuple[str, str], ...]:
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return ()
    sites = _sites(tree)
    order = list(range(len(sites)))
    random.Random(seed).shuffle(order)
    src = _Source(code)
    out: list[tuple[str, str]] = []
    for target in order[:limit]:
        kind, node = sites[target]
        # Editing the text is ~5x faster than unparsing a mutated tree, and keeps the
        # reference's own layout; unusual text (two operators between operands) falls back.
        source = _edit(src, kind, node)
        if source is None:
            fresh = ast.parse(code)
            _mutate_in_place(_sites(fresh)[target][1])
            source = ast.unparse(fresh)
        out.append((kind, source if source.endswith("\n") else source + "\n"))
    return tuple(out)
