"""Export rows written as they come, so memory stays flat however large the run is.

JSONL goes line by line, Parquet a row group per page (`pyarrow.parquet.ParquetWriter`), and a
saved `datasets.DatasetDict` is made from Arrow stream files written the same way and
memory-mapped by `datasets` (never a list of every row in memory). Each format writes the same
rows, byte for byte in JSONL, that one in-memory table of all rows gave before.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal, Protocol

Format = Literal["jsonl", "parquet", "hf"]
Row = dict[str, Any]


class Sink(Protocol):
    """Where one file's rows go."""

    def write(self, rows: Sequence[Row]) -> None:
        """Append rows."""

    def close(self) -> None:
        """Finish the file."""


class JsonlSink:
    """One JSON object a line."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(exist_ok=True)
        self._fh = path.open("w", encoding="utf-8")

    def write(self, rows: Sequence[Row]) -> None:
        """Append rows, one line each."""
        self._fh.write("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))

    def close(self) -> None:
        """Close the file."""
        self._fh.close()


class ParquetSink:
    """A Parquet file, one row group per write."""

    def __init__(self, path: Path, schema: Any) -> None:
        import pyarrow.parquet as pq

        path.parent.mkdir(exist_ok=True)
        self._schema = schema
        self._writer = pq.ParquetWriter(str(path), schema)

    def write(self, rows: Sequence[Row]) -> None:
        """Append rows as a row group."""
        import pyarrow as pa

        self._writer.write_table(pa.Table.from_pylist(list(rows), schema=self._schema))

    def close(self) -> None:
        """Write the footer."""
        self._writer.close()


class ArrowSink:
    """An Arrow stream file, the format `datasets.Dataset.from_file` maps."""

    def __init__(self, path: Path, schema: Any) -> None:
        import pyarrow as pa

        path.parent.mkdir(exist_ok=True)
        self._schema = schema
        self._file = pa.OSFile(str(path), "wb")
        self._writer = pa.ipc.new_stream(self._file, schema)

    def write(self, rows: Sequence[Row]) -> None:
        """Append rows as a record batch."""
        import pyarrow as pa

        self._writer.write_table(pa.Table.from_pylist(list(rows), schema=self._schema))

    def close(self) -> None:
        """End the stream and close the file."""
        self._writer.close()
        self._file.close()


def safe(name: str) -> str:
    """A stage name usable in a file name."""
    return "".join(c if c.isalnum() or c == "_" else "_" for c in name) or "stage"


def stage_split(index: int, stage: str) -> str:
    """The file (or split) name of the `index`-th stage."""
    return f"stage_{index:02d}_{safe(stage)}"


def write_rows(
    pages: Iterable[Sequence[Row]], stages: Sequence[str], folder: Path, fmt: Format, schema: Any
) -> None:
    """Write `pages` of rows into `folder` as `fmt`: all of them as train, and each stage's
    alone under stages/ (hf: as splits) when `stages` (first-seen order) holds more than one."""
    per_stage = len(stages) > 1
    names = {stage: stage_split(k, stage) for k, stage in enumerate(stages)} if per_stage else {}
    staging = Path(tempfile.mkdtemp(dir=folder.parent, prefix=".arrow-")) if fmt == "hf" else None

    def sink(name: str, sub: str) -> Sink:
        if staging is not None:  # hf: splits are saved from these at the end
            return ArrowSink(staging / f"{name}.arrow", schema)
        if fmt == "jsonl":
            return JsonlSink(folder / sub / f"{name}.jsonl")
        return ParquetSink(folder / sub / f"{name}.parquet", schema)

    try:
        train = sink("train", "")
        parts = {stage: sink(name, "stages") for stage, name in names.items()}
        try:
            for rows in pages:
                train.write(rows)
                groups: dict[str, list[Row]] = {}
                for row in rows if per_stage else ():
                    groups.setdefault(row["stage"], []).append(row)
                for stage, part in groups.items():
                    parts[stage].write(part)
        finally:
            for s in [train, *parts.values()]:
                s.close()
        if staging is not None:
            _save_dataset_dict(staging, ["train", *names.values()], folder, schema)
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)


def _save_dataset_dict(staging: Path, splits: Sequence[str], folder: Path, schema: Any) -> None:
    import datasets

    info = datasets.DatasetInfo(features=datasets.Features.from_arrow_schema(schema))
    loaded = {
        name: datasets.Dataset.from_file(str(staging / f"{name}.arrow"), info=info)
        for name in splits
    }
    was_enabled = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()  # one summary line from the CLI, not a bar per split
    try:
        datasets.DatasetDict(loaded).save_to_disk(str(folder))
    finally:
        if was_enabled:
            datasets.enable_progress_bars()
