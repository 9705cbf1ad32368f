"""`--format hf` writes the files `DatasetDict.save_to_disk` writes, a page at a time, without
mapping them back (issue 19: the saved Dataset's pages made it the largest export at 100k)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stepstones.evals.bank_fixture import write_bank
from stepstones.tools import export as export_module
from stepstones.tools import export_writers
from stepstones.tools.export import arrow_schema, export_run
from stepstones.tools.store import Bank


@pytest.fixture(scope="module")
def bank(tmp_path_factory: pytest.TempPathFactory) -> Bank:
    return Bank(write_bank(tmp_path_factory.mktemp("hf") / "bank.sqlite", 30))


def test_the_hf_layout_is_what_save_to_disk_writes(
    bank: Bank, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import datasets

    monkeypatch.setattr(export_module, "PAGE", 4)
    export_run(bank, tmp_path / "h", benchmark=None, fmt="hf", workers=1)
    ours = datasets.load_from_disk(str(tmp_path / "h"))
    features = datasets.Features.from_arrow_schema(arrow_schema())
    reference = datasets.DatasetDict(
        {name: datasets.Dataset.from_list(split.to_list(), features=features)
         for name, split in ours.items()}
    )  # fmt: skip
    reference.save_to_disk(str(tmp_path / "ref"))
    assert ours.keys() == reference.keys() and len(ours) > 1
    for name in ours:
        assert ours[name].features == features
        assert ours[name].data.table.equals(reference[name].data.table)
        info = Path(name, "dataset_info.json")
        assert (tmp_path / "h" / info).read_bytes() == (tmp_path / "ref" / info).read_bytes()
        state = json.loads((tmp_path / "h" / name / "state.json").read_text())
        saved = json.loads((tmp_path / "ref" / name / "state.json").read_text())
        assert state.keys() == saved.keys()
        assert {k: v for k, v in state.items() if k != "_fingerprint"} == {
            k: v for k, v in saved.items() if k != "_fingerprint"
        }
    splits = "dataset_dict.json"
    assert (tmp_path / "h" / splits).read_bytes() == (tmp_path / "ref" / splits).read_bytes()


def test_a_large_split_is_cut_into_shards_that_load_in_order(
    bank: Bank, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import datasets

    monkeypatch.setattr(export_module, "PAGE", 4)
    export_run(bank, tmp_path / "one", benchmark=None, fmt="hf", workers=1)
    monkeypatch.setattr(export_writers, "MAX_SHARD_BYTES", 1)  # a shard per page
    export_run(bank, tmp_path / "many", benchmark=None, fmt="hf", workers=1)
    shards = sorted(p.name for p in (tmp_path / "many" / "train").glob("*.arrow"))
    assert shards == [f"data-{k:05d}-of-{len(shards):05d}.arrow" for k in range(len(shards))]
    assert len(shards) > 1
    one, many = (datasets.load_from_disk(str(tmp_path / d)) for d in ("one", "many"))
    assert many["train"].to_list() == one["train"].to_list()
    assert (
        json.loads((tmp_path / "one" / "train" / "state.json").read_text())["_fingerprint"]
        == (json.loads((tmp_path / "many" / "train" / "state.json").read_text())["_fingerprint"])
    )
