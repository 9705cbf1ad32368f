"""Code corpora as documents with provenance: a folder of source files, a JSONL or Parquet file
with a text column, or a Hugging Face dataset (saved with `save_to_disk`, or by name).

Every reader yields `Document`s lazily in a seeded random order (a hub dataset by name: in its
stream's order), so a seed source stops reading once it has enough windows, however large the
corpus. pyarrow and datasets are imported only by the readers that need them.
"""

from __future__ import annotations

import json
import os
import random
import sysconfig
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import Field, model_validator

from stepstones.tools.jsonl import read_jsonl
from stepstones.tools.schema import Record

TEXT_COLUMNS = ("text", "content", "code", "solution")
"""Tried in this order when no `text_column` is configured (starcoderdata calls it `content`)."""

STDLIB_LICENSE = "PSF-2.0"
_SKIP_DIRS = {
    "__pycache__",
    "site-packages",
    "dist-packages",
    "test",
    "tests",
    "idlelib",
    "turtledemo",
    "lib2to3",
    "ensurepip",
    "pydoc_data",
    "encodings",
    "node_modules",
    ".venv",
    "venv",
    ".git",
}
_SAVED_MARKERS = ("dataset_dict.json", "dataset_info.json", "state.json")


class CorpusError(ValueError):
    """A corpus that cannot be read; the message names it and what is wrong."""


class CorpusConfig(Record):
    """How windows are cut from a corpus and which columns hold the text and the licence."""

    window_lines: tuple[int, int] = Field(
        (25, 50), description="a window's length in lines, lowest and highest (the paper: 25-50)"
    )
    windows_per_document: int = Field(
        1, ge=1, description="windows cut from one file or row at most (non-overlapping)"
    )
    text_column: str | None = Field(
        None,
        description="the column holding the code; None: the first of " + ", ".join(TEXT_COLUMNS),
    )
    license_column: str = Field("license", description="a column naming each row's licence")
    license: str | None = Field(
        None, description="the licence of a folder corpus, recorded on its seeds"
    )
    suffixes: list[str] = Field([".py"], description="file suffixes read from a folder corpus")
    split: str = Field("train", description="the split of a Hugging Face dataset")
    data_dir: str | None = Field(None, description="data_dir of a hub dataset (e.g. python)")

    @model_validator(mode="after")
    def _window_order(self) -> CorpusConfig:
        lo, hi = self.window_lines
        if not 1 <= lo <= hi:
            raise ValueError(f"window_lines {lo}-{hi}: need 1 <= lowest <= highest")
        return self


@dataclass(frozen=True)
class Document:
    """One file or row of a corpus and where it came from."""

    text: str
    origin: str
    path: str | None = None
    row: int | None = None
    license: str | None = None


def _text_column(columns: list[str], cfg: CorpusConfig, origin: str) -> str:
    if cfg.text_column is not None:
        if cfg.text_column not in columns:
            raise CorpusError(
                f"{origin}: no column {cfg.text_column!r} (columns: {', '.join(columns)})"
            )
        return cfg.text_column
    for name in TEXT_COLUMNS:
        if name in columns:
            return name
    raise CorpusError(
        f"{origin}: no text column ({', '.join(TEXT_COLUMNS)}); set "
        f"seeds.text_column (columns: {', '.join(columns)})"
    )


def _license(row: dict[str, Any], cfg: CorpusConfig) -> str | None:
    value = row.get(cfg.license_column)
    if value is None or value == "" or value == []:
        return cfg.license
    return ",".join(map(str, value)) if isinstance(value, list) else str(value)


def folder_documents(
    root: Path,
    rng: random.Random,
    cfg: CorpusConfig,
    *,
    origin: str | None = None,
    license: str | None = None,
) -> Iterator[Document]:
    """Source files under `root` (tests, caches and virtual environments skipped), shuffled."""
    files: list[str] = []
    for folder, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS and not d.startswith("."))
        rel = Path(folder).relative_to(root)
        files.extend(
            str(rel / n) if str(rel) != "." else n
            for n in sorted(names)
            if Path(n).suffix in cfg.suffixes
        )
    rng.shuffle(files)
    for name in files:
        try:
            text = (root / name).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        yield Document(text, origin or str(root), path=name, license=license or cfg.license)


def stdlib_documents(rng: random.Random, cfg: CorpusConfig) -> Iterator[Document]:
    """The Python standard library's own sources (no network; licence PSF-2.0)."""
    root = Path(sysconfig.get_paths()["stdlib"])
    plain = cfg.model_copy(update={"suffixes": [".py"]})
    return folder_documents(root, rng, plain, origin="stdlib", license=STDLIB_LICENSE)


def _rows(
    rows: list[dict[str, Any]],
    column: str,
    origin: str,
    rng: random.Random,
    cfg: CorpusConfig,
    numbers: list[int] | None = None,
) -> Iterator[Document]:
    order = list(range(len(rows)))
    rng.shuffle(order)
    for i in order:
        text = rows[i].get(column)
        if isinstance(text, str):
            row = numbers[i] if numbers is not None else i
            yield Document(text, origin, row=row, license=_license(rows[i], cfg))


def jsonl_documents(path: Path, rng: random.Random, cfg: CorpusConfig) -> Iterator[Document]:
    """Rows of a JSONL file; `row` is the 1-based line number."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise CorpusError(f"cannot read {path}: {exc.strerror}") from exc
    first = next((line for line in lines if line.strip()), None)
    if first is None:
        raise CorpusError(f"{path} holds no rows")
    try:
        keys = list(json.loads(first))
    except (json.JSONDecodeError, TypeError):
        keys = []
    column = _text_column(keys, cfg, str(path))
    pairs = list(read_jsonl(lines, str(path), CorpusError, column))
    return _rows([r for _, r in pairs], column, str(path), rng, cfg, [n for n, _ in pairs])


def parquet_documents(path: Path, rng: random.Random, cfg: CorpusConfig) -> Iterator[Document]:
    """Rows of a Parquet file (the text and licence columns only); `row` is the row index."""
    try:
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise CorpusError(
            "a Parquet corpus needs pyarrow: pip install 'stepstones[export]'"
        ) from exc
    try:
        names = pq.read_schema(path).names
    except (OSError, ValueError) as exc:
        raise CorpusError(f"cannot read {path}: {exc}") from exc
    column = _text_column(names, cfg, str(path))
    wanted = [column] + ([cfg.license_column] if cfg.license_column in names else [])
    rows = pq.read_table(path, columns=wanted).to_pylist()
    return _rows(rows, column, str(path), rng, cfg)


def _datasets() -> Any:
    try:
        import datasets
    except ImportError as exc:
        raise CorpusError(
            "a Hugging Face corpus needs datasets: pip install 'stepstones[export]'"
        ) from exc
    return datasets


def saved_dataset_documents(
    path: Path, rng: random.Random, cfg: CorpusConfig
) -> Iterator[Document]:
    """Rows of a dataset saved with `save_to_disk` (a DatasetDict: its `split`)."""
    datasets = _datasets()
    data = datasets.load_from_disk(str(path))
    if isinstance(data, datasets.DatasetDict):
        if cfg.split not in data:
            raise CorpusError(f"{path}: no split {cfg.split!r} (splits: {', '.join(data)})")
        data = data[cfg.split]
    column = _text_column(list(data.column_names), cfg, str(path))
    order = list(range(len(data)))
    rng.shuffle(order)
    for i in order:
        row = data[i]
        if isinstance(row.get(column), str):
            yield Document(row[column], str(path), row=i, license=_license(row, cfg))


def hub_documents(name: str, rng: random.Random, cfg: CorpusConfig) -> Iterator[Document]:
    """Rows of a dataset by name, streamed (needs the network for a hub name); `row` is the
    row's position in the split, read in order, so only the split's first rows are seen."""
    datasets = _datasets()
    try:
        stream = datasets.load_dataset(name, data_dir=cfg.data_dir, split=cfg.split, streaming=True)
    except Exception as exc:  # datasets raises many types: not found, offline, auth
        raise CorpusError(f"cannot load dataset {name!r}: {exc}") from exc
    column: str | None = None
    for i, row in enumerate(stream):
        column = column or _text_column(list(row), cfg, name)
        if isinstance(row.get(column), str):
            yield Document(row[column], name, row=i, license=_license(row, cfg))


def documents(spec: str, rng: random.Random, cfg: CorpusConfig) -> Iterator[Document]:
    """The documents of corpus `spec`: `stdlib`, `hf:NAME`, or a folder, .jsonl, .parquet or
    saved dataset path."""
    if spec == "stdlib":
        return stdlib_documents(rng, cfg)
    if spec.startswith("hf:"):
        return hub_documents(spec[3:], rng, cfg)
    path = Path(spec)
    if path.is_dir():
        if any((path / m).is_file() for m in _SAVED_MARKERS):
            return saved_dataset_documents(path, rng, cfg)
        return folder_documents(path, rng, cfg)
    if path.suffix == ".parquet":
        return parquet_documents(path, rng, cfg)
    if path.suffix in (".jsonl", ".json"):
        return jsonl_documents(path, rng, cfg)
    if not path.exists():
        raise CorpusError(
            f"no corpus at {spec} (a folder, .jsonl, .parquet, a saved dataset, stdlib or hf:NAME)"
        )
    raise CorpusError(
        f"{spec}: not a corpus this reads (a folder, .jsonl, .parquet, a saved "
        "dataset, stdlib or hf:NAME)"
    )
