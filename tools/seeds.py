"""Seed sources: what inspires each lineage. All work offline.

`stdlib` samples real functions from the Python standard library's own source files (real code
the interpreter already ships), `puzzles` reads a small bundled set of coding puzzles, and any
other value is a path to the user's JSONL file with a `text` field per line.
"""

from __future__ import annotations

import ast
import random
import sysconfig
from importlib import resources
from pathlib import Path

from stepstones.tools.jsonl import read_jsonl
from stepstones.tools.schema import Seed


class SeedError(ValueError):
    """A seed source that cannot be read; the message names the file and the line."""


_STDLIB_MODULES = (
    "bisect.py", "heapq.py", "textwrap.py", "string.py", "statistics.py", "fractions.py",
    "difflib.py", "shlex.py", "colorsys.py", "calendar.py", "base64.py", "ipaddress.py",
    "json/encoder.py", "json/decoder.py", "csv.py", "fnmatch.py", "glob.py", "posixpath.py",
    "random.py", "functools.py", "collections/__init__.py", "graphlib.py", "html/__init__.py",
    "urllib/parse.py", "datetime.py", "tokenize.py", "quopri.py", "keyword.py",
)


def _functions(path: Path, source_name: str) -> list[Seed]:
    try:
        text = path.read_text(encoding="utf-8")
        tree = ast.parse(text)
    except (OSError, SyntaxError, UnicodeDecodeError):
        return []
    lines = text.splitlines()
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.end_lineno is not None:
            length = node.end_lineno - node.lineno + 1
            if 5 <= length <= 40 and not node.name.startswith("__"):
                snippet = "\n".join(lines[node.lineno - 1 : node.end_lineno])
                out.append(Seed(kind="code", source=f"stdlib:{source_name}:{node.name}",
                                text=snippet))
    return out


def stdlib_seeds(limit: int, rng: random.Random) -> list[Seed]:
    """Up to `limit` real functions from the standard library, shuffled by `rng`."""
    root = Path(sysconfig.get_paths()["stdlib"])
    pool: list[Seed] = []
    for name in _STDLIB_MODULES:
        pool.extend(_functions(root / name, name))
    pool.sort(key=lambda s: s.id)
    rng.shuffle(pool)
    return pool[:limit]


def puzzle_seeds(limit: int, rng: random.Random) -> list[Seed]:
    """The bundled coding puzzles, shuffled by `rng`."""
    data = resources.files("stepstones.tools").joinpath("data/puzzles.jsonl").read_text()
    seeds = _parse_jsonl(data.splitlines(), "bundled puzzles", kind="puzzle")
    rng.shuffle(seeds)
    return seeds[:limit]


def _parse_jsonl(lines: list[str], origin: str, kind: str = "code") -> list[Seed]:
    return [Seed(kind=row.get("kind", kind), source=row.get("source", origin), text=row["text"])
            for _, row in read_jsonl(lines, origin, SeedError, "text")]


def jsonl_seeds(path: str | Path, limit: int) -> list[Seed]:
    """Seeds from the user's JSONL file, in file order."""
    p = Path(path)
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise SeedError(f"cannot read seed file {p}: {exc.strerror}") from exc
    seeds = _parse_jsonl(lines, str(p))
    if not seeds:
        raise SeedError(f"seed file {p} holds no seeds")
    return seeds[:limit]


def load_seeds(source: str, limit: int, seed: int = 0) -> list[Seed]:
    """Seeds from a named source (`stdlib`, `puzzles`, `mixed`) or a JSONL path."""
    rng = random.Random(seed)
    if source == "stdlib":
        return stdlib_seeds(limit, rng)
    if source == "puzzles":
        return puzzle_seeds(limit, rng)
    if source == "mixed":
        half = max(1, limit // 2)
        both = stdlib_seeds(half, rng) + puzzle_seeds(limit - half, rng)
        rng.shuffle(both)
        return both
    return jsonl_seeds(source, limit)
