"""Near-duplicate detection: MinHash signatures over character shingles, with LSH banding.

The critic asks `NearDupIndex.query(problem_text(p))` before accepting a problem and `add`s it
after; the exporter builds one over a whole run. Texts are normalised first (`normalize_code`
strips comments and docstrings and renames identifiers canonically), so renaming variables or
reflowing a statement does not hide a copy. Deterministic: the same texts give the same
signatures in every process (blake2b shingle hashes, no salted `hash()`).
"""

from __future__ import annotations

import ast
import builtins
import io
import keyword
import random
import re
import tokenize
from collections import Counter
from functools import lru_cache
from itertools import chain

import numpy as np

from stepstones.tools.schema import Problem

_MASK = (1 << 32) - 1
_KEEP_NAMES = frozenset(dir(builtins)) | frozenset(keyword.kwlist) | {"self", "cls"}
_WORD = re.compile(r"[a-z0-9_]+")


_BLOCKS = (ast.stmt, ast.excepthandler, ast.match_case)
_SCOPES = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
_IMPORTS = (ast.Import, ast.ImportFrom)


def _simplify(node: ast.AST) -> None:
    """Removes what a copier changes freely: docstrings, imports and type annotations, in place.

    `from typing import List` and `xs: List[int]` are noise for "is this the same program", and
    keeping them lets a copy that only drops the annotations (or adds an import) look different.
    Imports go from every statement list; then a module, class or function loses a leading
    docstring (an emptied class or function body becomes `pass`) and a function its argument
    and return annotations. Only statements are walked: no expression holds a statement or an
    annotated argument (a lambda's arguments take no annotation), and walking every expression
    node (an `ast.NodeTransformer`) cost more than parsing.
    """
    for name, value in ast.iter_fields(node):
        if isinstance(value, list) and value and isinstance(value[0], _BLOCKS):
            kept = [child for child in value if not isinstance(child, _IMPORTS)]
            for child in kept:
                _simplify(child)
            setattr(node, name, kept)
    if not isinstance(node, _SCOPES):
        return
    body = node.body
    if (
        body
        and isinstance(body[0], ast.Expr)
        and isinstance(body[0].value, ast.Constant)
        and isinstance(body[0].value.value, str)
    ):
        body = body[1:]
    node.body = body or ([] if isinstance(node, ast.Module) else [ast.Pass()])
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        node.returns = None
        a = node.args
        for arg in (*a.posonlyargs, *a.args, a.vararg, *a.kwonlyargs, a.kwarg):
            if arg is not None:
                arg.annotation = None


def _rename_tokens(source: str) -> list[str]:
    """Tokens of `source` with user identifiers renamed v0, v1, ... in order of appearance."""
    names: dict[str, str] = {}
    out: list[str] = []
    prev = ""
    skip = {
        tokenize.COMMENT,
        tokenize.NL,
        tokenize.NEWLINE,
        tokenize.INDENT,
        tokenize.DEDENT,
        tokenize.ENDMARKER,
        tokenize.ENCODING,
    }
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type in skip:
            continue
        text = tok.string
        if tok.type == tokenize.NAME and text not in _KEEP_NAMES and prev != ".":
            text = names.setdefault(text, f"v{len(names)}")
        out.append(text)
        prev = tok.string
    return out


@lru_cache(maxsize=1024)
def normalize_code(code: str) -> str:
    """Code reduced to its shape: no comments, docstrings, imports or annotations; names canonical.

    Builtins, keywords and attribute names are kept (they carry meaning); every other name becomes
    v0, v1, ... in order of first appearance. Code that does not parse is only stripped of `#`
    comments and has its whitespace collapsed. Cached: a turn asks for the same reference's
    shape three times (dedup lookup, decontamination, dedup insert), and parsing dominates.
    """
    try:
        tree = ast.parse(code)
        _simplify(tree)
        return " ".join(_rename_tokens(ast.unparse(tree)))
    except (SyntaxError, ValueError, tokenize.TokenError, RecursionError):
        stripped = "\n".join(line.split("#", 1)[0] for line in code.splitlines())
        return " ".join(stripped.split())


def normalize_text(text: str) -> str:
    """Prose reduced to lowercase words and digits separated by single spaces."""
    return " ".join(_WORD.findall(text.lower()))


def problem_text(problem: Problem) -> str:
    """What near-duplicate detection compares: normalised statement + normalised reference."""
    return normalize_text(problem.statement) + " || " + normalize_code(problem.reference_solution)


def shingles(text: str, ngram: int) -> set[str]:
    """Character n-grams of `text` with whitespace collapsed (the whole text if shorter)."""
    flat = " ".join(text.split())
    if len(flat) <= ngram:
        return {flat} if flat else set()
    return {flat[i : i + ngram] for i in range(len(flat) - ngram + 1)}


_POLY = np.uint64(0x100000001B3)  # FNV's 64-bit prime: odd, so no information is lost
_FINAL = np.uint64(0x9E3779B97F4A7C15)  # golden-ratio multiplier: spreads bits to the top half


def shingle_hashes(text: str, ngram: int) -> np.ndarray:
    """32-bit hashes of the distinct shingles of `text` (see `shingles`), computed in numpy.

    A polynomial hash over each window of code points (wrapping uint64 arithmetic), then a
    multiply to bring every input bit into the top 32 bits that are kept. Hashing each shingle
    through hashlib in Python cost more than the whole MinHash.
    """
    return np.unique(_window_hashes(text, ngram))


def _window_hashes(text: str, ngram: int) -> np.ndarray:
    """`shingle_hashes` with repeats: a MinHash takes minima, which repeats do not change, so
    it skips the sort that finding the distinct ones costs."""
    flat = " ".join(text.split())
    if not flat:
        return np.zeros(0, dtype=np.uint64)
    points = np.frombuffer(flat.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    width = min(ngram, points.size)
    windows = points.size - width + 1
    acc = np.zeros(windows, dtype=np.uint64)
    for j in range(width):
        acc = acc * _POLY + points[j : j + windows]
    return (acc * _FINAL) >> np.uint64(32)


def _rows_per_band(num_perm: int, threshold: float) -> int:
    """The most rows per LSH band that still makes a pair at `threshold` a candidate (>99.5%)."""
    best = 1
    for rows in range(1, num_perm + 1):
        bands = num_perm // rows
        if bands and 1 - (1 - threshold**rows) ** bands >= 0.995:
            best = rows
    return best


class NearDupIndex:
    """Keys of texts whose estimated Jaccard similarity (MinHash over shingles) passes a bar."""

    def __init__(self, threshold: float = 0.8, num_perm: int = 64, ngram: int = 5) -> None:
        if not 0.0 < threshold <= 1.0:
            raise ValueError(f"threshold must be in (0, 1], got {threshold}")
        if num_perm < 1 or ngram < 1:
            raise ValueError("num_perm and ngram must be positive")
        self.threshold = threshold
        self.num_perm = num_perm
        self.ngram = ngram
        rng = random.Random(0x5EED)
        self._a = np.array([rng.getrandbits(64) | 1 for _ in range(num_perm)], dtype=np.uint64)
        self._b = np.array([rng.getrandbits(64) for _ in range(num_perm)], dtype=np.uint64)
        self._recent: dict[str, np.ndarray] = {}
        self._rows = _rows_per_band(num_perm, threshold)
        self._bands = num_perm // self._rows
        self._row_of: dict[str, int] = {}
        self._key_at: list[str] = []  # row -> key ("" for a freed row)
        self._free: list[int] = []
        # Signatures by row, held once: every value is the top half of a uint64, so uint32
        # loses nothing (a tuple of Python ints cost ten times as much per key).
        self._matrix = np.zeros((64, num_perm), dtype=np.uint32)
        # Per band, a band's value (one int) -> its rows: a lone row as a plain int (most
        # buckets hold one key, and a set costs 216 bytes), a set once a second row joins.
        self._buckets: list[dict[int, int | set[int]]] = [{} for _ in range(self._bands)]
        # The fewest agreeing positions that pass the threshold, compared as `query` compares.
        agree_min = next(n for n in range(num_perm + 1) if n / num_perm >= threshold)
        self._agree_min = agree_min
        # A disagreeing position breaks at most one band, so a key at the threshold shares at
        # least this many of the query's bands (then LSH finds every such key, not only most).
        self._need = max(1, self._bands - (num_perm - agree_min))

    def signature(self, text: str) -> tuple[int, ...]:
        """The MinHash signature of `text` (num_perm integers, each below 2**32).

        Each permutation is a multiply-shift hash of the 32-bit shingle hash, `(a*h + b) >> 32`
        in wrapping uint64 arithmetic: no modulo, so numpy computes all permutations at once.
        """
        return tuple(int(v) for v in self._signature(text))

    def _signature(self, text: str) -> np.ndarray:
        """`signature` as a read-only uint32 array. The critic asks for the signature of a draft
        and the graph then adds the same text, so recent signatures are kept."""
        cached = self._recent.get(text)
        if cached is not None:
            return cached
        hashes = _window_hashes(text, self.ngram)
        if not hashes.size:
            sig = np.full(self.num_perm, _MASK, dtype=np.uint32)
        else:
            # The shift keeps order, so it is taken of each minimum rather than of every value.
            mixed = self._a[:, None] * hashes[None, :] + self._b[:, None]
            sig = (mixed.min(axis=1) >> np.uint64(32)).astype(np.uint32)
        sig.flags.writeable = False
        if len(self._recent) >= 256:
            self._recent.pop(next(iter(self._recent)))
        self._recent[text] = sig
        return sig

    def _band_keys(self, sig: np.ndarray) -> list[int]:
        """Each band's `rows` values as one int (32 bits a value: distinct bands, distinct ints)."""
        r = self._rows
        raw = sig[: self._bands * r].astype("<u4").tobytes()
        step = 4 * r
        return [int.from_bytes(raw[i : i + step], "little") for i in range(0, len(raw), step)]

    def minhash(self, text: str) -> np.ndarray:
        """`signature` as a read-only uint32 array, what `add_signature` and `query_signature`
        take: a process can compute it for another's index (same num_perm and ngram)."""
        return self._signature(text)

    def add(self, key: str, text: str) -> None:
        """Index `text` under `key` (re-adding a key replaces its text)."""
        self.add_signature(key, self._signature(text))

    def add_signature(self, key: str, sig: np.ndarray) -> None:
        """`add` for a text whose `minhash` is `sig`."""
        if key in self._row_of:
            self.remove(key)
        if self._free:
            row = self._free.pop()
            self._key_at[row] = key
        else:
            row = len(self._key_at)
            self._key_at.append(key)
            if row == len(self._matrix):
                grown = np.zeros((2 * row, self.num_perm), dtype=np.uint32)
                grown[:row] = self._matrix
                self._matrix = grown
        self._matrix[row] = sig
        self._row_of[key] = row
        for bucket, band in zip(self._buckets, self._band_keys(sig), strict=True):
            members = bucket.get(band)
            if members is None:
                bucket[band] = row
            elif isinstance(members, int):
                bucket[band] = {members, row}
            else:
                members.add(row)

    def remove(self, key: str) -> None:
        """Forget `key` (no error if it is unknown)."""
        row = self._row_of.pop(key, None)
        if row is None:
            return
        sig = self._matrix[row]
        self._key_at[row] = ""
        self._free.append(row)
        for bucket, band in zip(self._buckets, self._band_keys(sig), strict=True):
            members = bucket.get(band)
            if isinstance(members, int):
                if members == row:
                    del bucket[band]
            elif members is not None:
                members.discard(row)
                if len(members) == 1:
                    bucket[band] = next(iter(members))
                elif not members:
                    del bucket[band]

    def _scored_rows(self, sig: np.ndarray) -> list[int]:
        """Rows of the keys `query` scores: those sharing at least `_need` of its bands.

        Texts of one task family share bands, so the buckets a query reads grow with the bank.
        A key at the threshold shares at least `_need` of the query's bands (each disagreeing
        position breaks at most one band), so it is in at least one of any `L - _need + 1` of
        the query's `L` non-empty buckets: reading only the smallest ones loses no hit, and
        fewer than `_need` non-empty buckets hold none; a key found there is kept only if it
        is in `_need` of them. Where the bands cannot promise that (a low threshold), `_need`
        is 1 and every bucket is read, as in plain LSH.
        """
        found: list[set[int]] = []
        for bucket, band in zip(self._buckets, self._band_keys(sig), strict=True):
            members = bucket.get(band)
            if members is not None:
                found.append({members} if isinstance(members, int) else members)
        if len(found) < self._need:
            return []
        if self._need == 1:
            rows = set().union(*found)
        else:
            # The count of shared bands is a cheaper bound than the score: most family
            # members share a band or two, a key at the threshold `_need` at least.
            found.sort(key=len)
            split = len(found) - self._need + 1
            largest = found[split:]
            counts = Counter(chain.from_iterable(found[:split]))
            seen = counts.keys()
            for members in largest:  # set & keys view: C-level, over the smaller side
                counts.update(seen & members)
            rows = {r for r, n in counts.items() if n >= self._need}
        return sorted(rows)

    def candidates(self, text: str) -> set[str]:
        """The keys `query` scores for `text` (see `_scored_rows`)."""
        return {self._key_at[r] for r in self._scored_rows(self._signature(text))}

    def query(self, text: str, exclude: set[str] | None = None) -> list[tuple[str, float]]:
        """Indexed keys whose estimated Jaccard with `text` is >= threshold, best first."""
        return self.query_signature(self._signature(text), exclude)

    def query_signature(
        self, sig: np.ndarray, exclude: set[str] | None = None
    ) -> list[tuple[str, float]]:
        """`query` for a text whose `minhash` is `sig`."""
        rows = self._scored_rows(sig)
        if not rows:
            return []
        agree = (self._matrix[rows] == sig).sum(axis=1)
        hits = [
            (self._key_at[r], int(n) / self.num_perm)
            for r, n in zip(rows, agree, strict=True)
            if n >= self._agree_min
        ]
        if exclude:
            hits = [(k, s) for k, s in hits if k not in exclude]
        return sorted(hits, key=lambda kv: (-kv[1], kv[0]))

    @property
    def rows(self) -> int:
        """Signature positions per LSH band."""
        return self._rows

    @property
    def bands(self) -> int:
        """LSH bands (a band is `rows` consecutive positions; leftover positions are unbanded)."""
        return self._bands

    def keys(self) -> list[str]:
        """The indexed keys."""
        return list(self._row_of)

    def __len__(self) -> int:
        """Number of indexed keys."""
        return len(self._row_of)

    def __contains__(self, key: object) -> bool:
        """Whether `key` is indexed."""
        return key in self._row_of
