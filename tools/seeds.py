"""Seed sources: what inspires each lineage. The bundled ones work offline.

- `stdlib`: whole functions (5-40 lines) from the standard library's own sources;
- `windows`, `windows:CORPUS`: 25-50-line windows cut at random from a corpus, as the paper
  cuts them from starcoderdata (`tools/corpus.py`: the standard library by default, or a
  folder, .jsonl, .parquet, a saved Hugging Face dataset or `hf:NAME`); a bare folder,
  .parquet, saved dataset or `hf:NAME` means windows too;
- `solutions:PATH`: passing student solutions from a stepstones bank, or a JSONL of solutions;
- `puzzles`: a small bundled set of coding puzzles; `mixed`: stdlib functions and puzzles;
- any other path: the user's own JSONL, one seed per line (`text`), as it is.

Windows and solutions are deduplicated (whitespace-blind; solutions by code shape) and carry
their provenance: corpus, file and line range or row, and licence where the corpus has one.
"""

from __future__ import annotations

import ast
import json
import random
import sysconfig
from collections import deque
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

from stepstones.tools.corpus import (
    STDLIB_LICENSE,
    CorpusConfig,
    CorpusError,
    Document,
    documents,
)
from stepstones.tools.dedup import normalize_code
from stepstones.tools.jsonl import read_jsonl
from stepstones.tools.schema import Seed, content_hash
from stepstones.tools.store import Bank

PUZZLES_ORIGIN = "bundled puzzles"
PUZZLES_LICENSE = "Apache-2.0"
"""The bundled puzzles are stepstones' own (tools/data/puzzles.jsonl), under its licence."""


class SeedError(ValueError):
    """A seed source that cannot be read; the message names the file and the line."""


_STDLIB_MODULES = (
    "bisect.py",
    "heapq.py",
    "textwrap.py",
    "string.py",
    "statistics.py",
    "fractions.py",
    "difflib.py",
    "shlex.py",
    "colorsys.py",
    "calendar.py",
    "base64.py",
    "ipaddress.py",
    "json/encoder.py",
    "json/decoder.py",
    "csv.py",
    "fnmatch.py",
    "glob.py",
    "posixpath.py",
    "random.py",
    "functools.py",
    "collections/__init__.py",
    "graphlib.py",
    "html/__init__.py",
    "urllib/parse.py",
    "datetime.py",
    "tokenize.py",
    "quopri.py",
    "keyword.py",
)


_BLOCK = (ast.stmt, ast.excepthandler, ast.match_case)
"""What a `def` can sit in: expressions never hold statements."""


def _function_defs(tree: ast.Module) -> Iterator[ast.FunctionDef]:
    """The tree's FunctionDefs in `ast.walk` order (breadth first), visiting statements only.

    Every ancestor of a statement is a statement, an except handler or a match case, and a
    node's fields come in `ast.walk`'s order, so skipping expressions keeps that order: it is
    what the seeds' shuffle starts from. A full walk was a quarter of a run's seed loading.
    """
    todo: deque[ast.AST] = deque([tree])
    while todo:
        node = todo.popleft()
        for name in node._fields:
            value = getattr(node, name, None)
            if isinstance(value, list):
                todo.extend(v for v in value if isinstance(v, _BLOCK))
        if isinstance(node, ast.FunctionDef):
            yield node


def _functions(path: Path, source_name: str) -> list[Seed]:
    try:
        text = path.read_text(encoding="utf-8")
        tree = ast.parse(text)
    except (OSError, SyntaxError, UnicodeDecodeError):
        return []
    lines = text.splitlines()
    out = []
    for node in _function_defs(tree):
        if node.end_lineno is not None:
            length = node.end_lineno - node.lineno + 1
            if 5 <= length <= 40 and not node.name.startswith("__"):
                snippet = "\n".join(lines[node.lineno - 1 : node.end_lineno])
                out.append(
                    Seed(
                        kind="code",
                        source=f"stdlib:{source_name}:{node.name}",
                        text=snippet,
                        origin="stdlib",
                        path=source_name,
                        first_line=node.lineno,
                        last_line=node.end_lineno,
                        license=STDLIB_LICENSE,
                    )
                )
    return out


def stdlib_seeds(limit: int, rng: random.Random) -> list[Seed]:
    """Up to `limit` real functions from the standard library, shuffled by `rng`.

    Parsing the modules is about a quarter second of CPU; the runner loads a new run's seeds
    while the sandbox starts, so it is not paid before the first model call.
    """
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
    seeds = [
        s.model_copy(update={"origin": PUZZLES_ORIGIN, "license": PUZZLES_LICENSE})
        for s in _parse_jsonl(data.splitlines(), PUZZLES_ORIGIN, kind="puzzle")
    ]
    rng.shuffle(seeds)
    return seeds[:limit]


def _parse_jsonl(lines: list[str], origin: str, kind: str = "code") -> list[Seed]:
    return [
        Seed(
            kind=row.get("kind", kind),
            source=row.get("source", origin),
            text=row["text"],
            origin=origin,
            license=lic if isinstance(lic := row.get("license"), str) else None,
        )
        for _, row in read_jsonl(lines, origin, SeedError, "text")
    ]


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


def cut_windows(
    text: str, rng: random.Random, lines: tuple[int, int], count: int
) -> list[tuple[int, int]]:
    """Up to `count` non-overlapping (first, last) 1-based line ranges of `lines` lines each.

    The text is tiled from a random offset with windows of random length; a text shorter
    than the lowest length gives none. Windows of mostly blank or comment lines are skipped.
    """
    lo, hi = lines
    rows = text.splitlines()
    spans: list[tuple[int, int]] = []
    pos = rng.randrange(max(1, min(lo, len(rows) - lo + 1)))
    while len(rows) - pos >= lo:
        end = pos + min(rng.randint(lo, hi), len(rows) - pos)
        code = sum(1 for r in rows[pos:end] if r.strip() and not r.lstrip().startswith("#"))
        if 2 * code >= end - pos:
            spans.append((pos + 1, end))
        pos = end
    return sorted(rng.sample(spans, min(count, len(spans))))


def _window_seed(doc: Document, first: int, last: int) -> Seed:
    text = "\n".join(doc.text.splitlines()[first - 1 : last])
    where = doc.path if doc.path is not None else f"row {doc.row}"
    return Seed(
        kind="code",
        source=f"{doc.origin}:{where}:{first}-{last}",
        text=text,
        origin=doc.origin,
        path=doc.path,
        row=doc.row,
        first_line=first,
        last_line=last,
        license=doc.license,
    )


def window_seeds(
    corpus: str, limit: int, rng: random.Random, cfg: CorpusConfig | None = None
) -> list[Seed]:
    """Up to `limit` distinct windows from `corpus`, documents in a seeded random order.

    A document whose text (whitespace aside) was met before is skipped, as is a window equal
    to an earlier one: copies of a file would otherwise give overlapping windows.
    """
    cfg = cfg or CorpusConfig()
    seen: set[str] = set()
    out: list[Seed] = []
    try:
        for doc in documents(corpus, rng, cfg):
            whole = content_hash(" ".join(doc.text.split()))
            if whole in seen:
                continue
            seen.add(whole)
            for first, last in cut_windows(
                doc.text, rng, cfg.window_lines, cfg.windows_per_document
            ):
                seed = _window_seed(doc, first, last)
                key = " ".join(seed.text.split())
                if key not in seen:
                    seen.add(key)
                    out.append(seed)
            if len(out) >= limit:
                break
    except CorpusError as exc:
        raise SeedError(str(exc)) from exc
    if not out:
        lo, hi = cfg.window_lines
        raise SeedError(f"corpus {corpus} has no window of {lo}-{hi} lines")
    return out[:limit]


def _bank_solutions(path: Path) -> list[Seed]:
    bank = Bank(path)
    try:
        return [
            Seed(
                kind="solution",
                source=f"bank:{run['id']}:{a.problem_id}:{a.student}",
                text=a.code,
                origin=str(path),
                path=f"{run['id']}/{a.problem_id}",
            )
            for run in bank.runs()
            for a in bank.attempts(run["id"])
            if a.verdict.ok and a.code
        ]
    finally:
        bank.close()


def solution_seeds(
    path: str | Path, limit: int, rng: random.Random, cfg: CorpusConfig | None = None
) -> list[Seed]:
    """Distinct successful solutions: a bank's passing attempts (every run), or a JSONL file's
    rows (`solution`, `code` or `text`), shuffled by `rng`; duplicates by code shape dropped."""
    p = Path(path)
    if not p.is_file():
        raise SeedError(f"no solutions file at {p} (a bank.sqlite or a .jsonl)")
    if p.suffix in (".jsonl", ".json"):
        cfg = cfg or CorpusConfig()
        if cfg.text_column is None:
            cfg = cfg.model_copy(update={"text_column": _solution_column(p)})
        try:
            pool = [
                Seed(
                    kind="solution",
                    source=f"{p}:{d.row}",
                    text=d.text,
                    origin=str(p),
                    row=d.row,
                    license=d.license,
                )
                for d in documents(str(p), random.Random(0), cfg)
            ]
        except CorpusError as exc:
            raise SeedError(str(exc)) from exc
        pool.sort(key=lambda s: s.row or 0)
    else:
        pool = _bank_solutions(p)
    seen: set[str] = set()
    unique = []
    for seed in pool:
        key = normalize_code(seed.text)
        if key not in seen:
            seen.add(key)
            unique.append(seed)
    if not unique:
        raise SeedError(f"{p} holds no successful solutions")
    rng.shuffle(unique)
    return unique[:limit]


def _solution_column(path: Path) -> str | None:
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                return None
            keys = row if isinstance(row, dict) else {}
            return next((k for k in ("solution", "code", "text") if k in keys), None)
    return None


def load_seeds(
    source: str, limit: int, seed: int = 0, corpus: CorpusConfig | None = None
) -> list[Seed]:
    """Seeds from a named source (`stdlib`, `windows[:CORPUS]`, `solutions:PATH`, `puzzles`,
    `mixed`), a corpus (folder, .parquet, saved dataset, `hf:NAME`) or a JSONL path."""
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
    if source == "windows" or source.startswith("windows:"):
        return window_seeds(source.partition(":")[2] or "stdlib", limit, rng, corpus)
    if source.startswith("solutions:"):
        return solution_seeds(source.partition(":")[2], limit, rng, corpus)
    path = Path(source)
    if source.startswith("hf:") or path.is_dir() or path.suffix == ".parquet":
        return window_seeds(source, limit, rng, corpus)
    return jsonl_seeds(source, limit)
