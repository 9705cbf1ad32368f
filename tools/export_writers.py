"""Export rows written as they come, so memory stays flat however large the run is.

Rows arrive a page at a time already encoded (`encode`: JSON lines, or an Arrow table), so the
encoding can happen in the processes that build the rows. JSONL goes line by line, Parquet a
row group per page (`pyarrow.parquet.ParquetWriter`), and a saved `datasets.DatasetDict` as
the files `save_to_disk` writes, a page at a time (never a list of every row in memory). Each
format writes the same rows, byte for byte in JSONL, that one in-memory table of all rows gave
before.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

Format = Literal["jsonl", "parquet", "hf"]
Row = dict[str, Any]


@dataclass(frozen=True)
class Page:
    """Rows encoded for one format: each row's stage, and its JSON lines (jsonl) or one Arrow
    table of them (parquet, hf)."""

    stages: list[str]
    lines: list[str] | None = None
    table: Any = None

    def select(self, rows: Sequence[int]) -> Page:
        """The page of the rows at these positions, in this order."""
        stages = [self.stages[i] for i in rows]
        if self.lines is not None:
            return Page(stages, lines=[self.lines[i] for i in rows])
        return Page(stages, table=self.table.take(list(rows)))


def encode(rows: Sequence[Row], fmt: Format, schema: Any) -> Page:
    """`rows` as `fmt` writes them: JSON lines, or a table of the Arrow `schema`."""
    stages = [str(row["stage"]) for row in rows]
    if fmt == "jsonl":
        return Page(stages, lines=[json.dumps(row, ensure_ascii=False) + "\n" for row in rows])
    import pyarrow as pa

    return Page(stages, table=pa.Table.from_pylist(list(rows), schema=schema))


class Sink(Protocol):
    """Where one file's rows go."""

    def write(self, page: Page) -> None:
        """Append a page of rows."""

    def close(self) -> None:
        """Finish the file."""


class JsonlSink:
    """One JSON object a line."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(exist_ok=True)
        self._fh = path.open("w", encoding="utf-8")

    def write(self, page: Page) -> None:
        """Append the page's lines."""
        self._fh.write("".join(page.lines or ()))

    def close(self) -> None:
        """Close the file."""
        self._fh.close()


class ParquetSink:
    """A Parquet file, one row group per write."""

    def __init__(self, path: Path, schema: Any) -> None:
        import pyarrow.parquet as pq

        path.parent.mkdir(exist_ok=True)
        self._writer = pq.ParquetWriter(str(path), schema)

    def write(self, page: Page) -> None:
        """Append the page's table as a row group."""
        self._writer.write_table(page.table)

    def close(self) -> None:
        """Write the footer."""
        self._writer.close()


MAX_SHARD_BYTES = 500 * 10**6
"""A saved split's Arrow shard size, as `datasets.config.MAX_SHARD_SIZE` has `save_to_disk` cut."""


class HfSplitSink:
    """One split of a saved `datasets.DatasetDict`, written as `Dataset.save_to_disk` writes it:
    Arrow shards by `datasets`' own `ArrowWriter` (a new one past `MAX_SHARD_BYTES`), then the
    split's state.json and dataset_info.json. Rows go straight to the shards; nothing is mapped
    back (saving through a `Dataset` read every written page again and held it in memory)."""

    def __init__(self, folder: Path, schema: Any) -> None:
        import datasets
        import xxhash

        folder.mkdir(parents=True)
        self._folder = folder
        self._info = datasets.DatasetInfo(features=datasets.Features.from_arrow_schema(schema))
        self._shards: list[Path] = []
        self._writer: Any = None
        self._bytes = 0
        # A content hash as the split's fingerprint (datasets names its cache files by it).
        self._hash = xxhash.xxh64()

    def _open_shard(self) -> None:
        from datasets.arrow_writer import ArrowWriter

        if self._writer is not None:
            self._writer.finalize()
        path = self._folder / f".shard-{len(self._shards)}.arrow"
        self._shards.append(path)
        self._writer = ArrowWriter(features=self._info.features, path=str(path))
        self._bytes = 0

    def write(self, page: Page) -> None:
        """Append the page's table to the current shard (a new one past `MAX_SHARD_BYTES`)."""
        table = page.table
        if self._writer is None or self._bytes >= MAX_SHARD_BYTES:
            self._open_shard()
        self._writer.write_table(table)
        self._bytes += table.nbytes
        for batch in table.to_batches():
            self._hash.update(batch.serialize())

    def close(self) -> None:
        """Finish the last shard, name the shards as `save_to_disk` does, write the split's
        state.json and dataset_info.json."""
        from datasets.utils.py_utils import asdict  # save_to_disk's own, not dataclasses'

        if self._writer is None:
            self._open_shard()  # an empty split still has one shard, with the schema
        self._writer.finalize()
        self._writer = None
        n = len(self._shards)
        names = [f"data-{k:05d}-of-{n:05d}.arrow" for k in range(n)]
        for shard, name in zip(self._shards, names, strict=True):
            shard.rename(self._folder / name)
        state: dict[str, Any] = {
            "_data_files": [{"filename": name} for name in names],
            "_fingerprint": self._hash.hexdigest(),
            "_format_columns": None,
            "_format_kwargs": {},
            "_format_type": None,
            "_output_all_columns": False,
            "_split": None,
        }
        with (self._folder / "state.json").open("w", encoding="utf-8") as f:
            json.dump(state, f, indent=2, sort_keys=True)
        info = asdict(self._info)
        with (self._folder / "dataset_info.json").open("w", encoding="utf-8") as f:
            json.dump({key: info[key] for key in sorted(info)}, f, indent=2)


def safe(name: str) -> str:
    """A stage name usable in a file name."""
    return "".join(c if c.isalnum() or c == "_" else "_" for c in name) or "stage"


def stage_split(index: int, stage: str) -> str:
    """The file (or split) name of the `index`-th stage."""
    return f"stage_{index:02d}_{safe(stage)}"


def write_rows(
    pages: Iterable[Page], stages: Sequence[str], folder: Path, fmt: Format, schema: Any
) -> None:
    """Write `pages` of rows (`encode`d as `fmt`) into `folder`: all of them as train, and each
    stage's alone under stages/ (hf: as splits) when `stages` (first-seen order) holds more
    than one."""
    per_stage = len(stages) > 1
    names = {stage: stage_split(k, stage) for k, stage in enumerate(stages)} if per_stage else {}

    def sink(name: str, sub: str) -> Sink:
        if fmt == "hf":  # splits side by side, as a saved DatasetDict holds them
            return HfSplitSink(folder / name, schema)
        if fmt == "jsonl":
            return JsonlSink(folder / sub / f"{name}.jsonl")
        return ParquetSink(folder / sub / f"{name}.parquet", schema)

    train = sink("train", "")
    parts = {stage: sink(name, "stages") for stage, name in names.items()}
    try:
        for page in pages:
            train.write(page)
            groups: dict[str, list[int]] = {}
            for i, stage in enumerate(page.stages if per_stage else ()):
                groups.setdefault(stage, []).append(i)
            for stage, rows in groups.items():
                parts[stage].write(page.select(rows))
    finally:
        for s in [train, *parts.values()]:
            s.close()
    if fmt == "hf":
        splits = {"splits": ["train", *names.values()]}
        (folder / "dataset_dict.json").write_text(json.dumps(splits), encoding="utf-8")
