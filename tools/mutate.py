"""Mutants of a reference solution and trivial stand-ins, for judging whether tests discriminate.

A test suite that a one-token change to the reference still passes, or that `return None`
passes, gives an RL trainer a reward it can collect without solving the problem. The critic
runs these against the tests; simulated students reuse the mutants as realistic bugs when a
problem has no known wrong solutions.
"""

from __future__ import annotations

import ast
import random
from functools import lru_cache

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


def trivial_solutions(entry_point: str, io_style: str = "function") -> dict[str, str]:
    """Solutions that do no work: each must fail at least one test of a sound problem."""
    if io_style == "stdio":
        return {
            "prints_nothing": "pass\n",
            "echoes_input": "import sys\nsys.stdout.write(sys.stdin.read())\n",
            "prints_zero": "print(0)\n",
        }
    bodies = {
        "returns_none": "return None",
        "returns_zero": "return 0",
        "returns_empty_list": "return []",
        "returns_empty_string": "return ''",
        "returns_first_argument": "return args[0] if args else None",
        "returns_true": "return True",
    }
    return {
        name: f"def {entry_point}(*args, **kwargs):\n    {body}\n"
        for name, body in bodies.items()
    }


class _Mutator(ast.NodeTransformer):
    """Applies exactly one mutation: the `target`-th mutable site in walk order."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.seen = 0
        self.applied: str | None = None

    def _hit(self) -> bool:
        hit = self.seen == self.target and self.applied is None
        self.seen += 1
        return hit

    def visit_Compare(self, node: ast.Compare) -> ast.AST:
        self.generic_visit(node)
        swap = _COMPARE_SWAPS.get(type(node.ops[0]))
        if swap is not None and self._hit():
            node.ops[0] = swap()
            self.applied = "comparison"
        return node

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        self.generic_visit(node)
        swap = _BINOP_SWAPS.get(type(node.op))
        if swap is not None and self._hit():
            node.op = swap()
            self.applied = "operator"
        return node

    def visit_Constant(self, node: ast.Constant) -> ast.AST:
        value = node.value
        if isinstance(value, int) and not isinstance(value, bool) and self._hit():
            self.applied = "off_by_one"
            return ast.copy_location(ast.Constant(value + 1), node)
        return node


def _count_sites(tree: ast.AST) -> int:
    counter = _Mutator(target=-1)
    counter.visit(tree)
    return counter.seen


def mutants(code: str, limit: int = 6, seed: int = 0) -> tuple[tuple[str, str], ...]:
    """Up to `limit` single-site mutants of `code` as (kind, source); none if it does not parse.

    Sites are sampled with `Random(seed)` so the same code always yields the same mutants.
    Mutants identical in source to the original are skipped. Cached: the critic and every
    simulated student ask for the same reference's mutants, and unparsing dominates.
    """
    return _mutants(code, limit, seed)


@lru_cache(maxsize=512)
def _mutants(code: str, limit: int, seed: int) -> tuple[tuple[str, str], ...]:
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return ()
    sites = _count_sites(tree)
    order = list(range(sites))
    random.Random(seed).shuffle(order)
    original = ast.unparse(tree)
    out: list[tuple[str, str]] = []
    for target in order:
        if len(out) >= limit:
            break
        mutator = _Mutator(target)
        mutated = mutator.visit(ast.parse(code))
        if mutator.applied is None:
            continue
        source = ast.unparse(ast.fix_missing_locations(mutated))
        if source == original:
            continue
        out.append((mutator.applied, source + "\n"))
    return tuple(out)
