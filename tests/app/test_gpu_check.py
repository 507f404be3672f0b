"""`bpebench gpu-check`: the tiny CPU run writes the full schema with sane values; packing and unpacking the train
images round-trips; the plan and the arch spread are checked."""

from __future__ import annotations

import dataclasses
import json
import math
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from harness import data, space
from harness.app import gpu_check
from harness.app.cli import main
from harness.groundtruth import GroundTruth

KEYS = {"check", "tiny", "status", "provenance", "plan", "records", "data_root", "estimate", "errors", "data",
        "throughput", "protocol", "darts", "seconds"}  # fmt: skip


def _ci_holds(estimate: dict) -> bool:
    return estimate["low"] <= estimate["value"] <= estimate["high"]


@pytest.mark.usefixtures("one_torch_thread")
def test_tiny_check_writes_the_schema_with_sane_values(gt_hp12_path, tmp_path, capsys) -> None:
    start = time.perf_counter()
    code = main(["gpu-check", "--tiny", "--out", str(tmp_path), "--groundtruth", str(gt_hp12_path)])
    took = time.perf_counter() - start
    assert code == 0 and took < 60
    result = json.loads((tmp_path / "gpu_check_tiny.json").read_text())
    assert set(result) == KEYS and result["status"] == "complete" and not result["errors"] and result["tiny"]
    assert result["provenance"]["commit"] and result["provenance"]["device"].startswith("cpu")
    assert "plan (seconds at each anchor" in capsys.readouterr().out

    rows = result["throughput"]["rows"]
    expected = [(k, mode, precision) for precision in ("fp32", "bf16") for k in (1, 6) for mode in ("fused", "alone")]
    assert [(r["k"], r["mode"], r["precision"]) for r in rows] == expected
    for row in rows:
        assert not row["error"] and row["seconds_per_step"] > 0 and row["macs_per_second"] > 0
        assert row["peak_kind"] == "unknown" and row["fraction_of_peak"] is None  # NaN -> null: no CPU peak
    assert 8.5 < result["throughput"]["nb201_seconds_per_arch_epoch"] < 9.5  # NB201's records: about 9 s

    protocol = result["protocol"]
    assert protocol["n"] + protocol["n_failed"] == len(protocol["archs"]) == 6
    fp32_k6 = {r["mode"]: r["seconds_per_arch_epoch"] for r in rows if r["k"] == 6 and r["precision"] == "fp32"}
    assert protocol["mode"] == min(fp32_k6, key=fp32_k6.get)  # the faster way, as measured
    recorded = [row["recorded"] for row in protocol["archs"]]
    assert recorded == sorted(recorded) and len(set(recorded)) == 6
    for row in protocol["archs"]:
        assert 0 <= row["live"] <= 100 and row["difference"] == pytest.approx(row["live"] - row["recorded"])
    assert protocol["mean_abs_difference"]["value"] == pytest.approx(
        np.mean([abs(row["difference"]) for row in protocol["archs"]])
    )
    assert -1 <= protocol["kendall_tau"]["value"] <= 1 and protocol["kendall_tau"]["n"] == 6
    assert _ci_holds(protocol["mean_difference"]) and _ci_holds(protocol["mean_abs_difference"])
    assert "JPEG" in protocol["expected_offset"]

    darts = result["darts"]
    space.parse(darts["genotype"])
    assert darts["epochs_done"] >= 1 and 0 < darts["seconds"] <= darts["budget_seconds"] + 5
    assert np.allclose(np.sum(darts["alphas"], axis=1), 1) and len(darts["genotypes_per_epoch"]) == darts["epochs_done"]
    markdown = (tmp_path / "gpu_check_tiny.md").read_text()
    assert "## Throughput" in markdown and "## DARTS-V1" in markdown and "Kendall tau-b" in markdown
    assert "\\|nor_conv" in markdown or "\\|avg_pool" in markdown or "\\|skip" in markdown  # pipes escaped in cells


def test_pack_then_archive_loads_the_same_train_halves_and_records(image_root, gt_hp12, tmp_path) -> None:
    archive = gpu_check.pack(tmp_path / "train.tar.gz", str(image_root), gt_hp12, log=lambda line: None)
    folder = gpu_check.unpack(archive, log=lambda line: None)
    assert gpu_check.unpack(archive, log=lambda line: None) == folder  # unpacked once
    unpacked = data.load("cifar10-valid", folder, cache_dir=tmp_path / "cache", workers=1, progress=False)
    original = data.load("cifar10-valid", image_root, cache_dir=tmp_path / "cache", workers=1, progress=False)
    assert unpacked.split_names == ("train", "x-valid") and len(unpacked.train) + len(unpacked["x-valid"]) == 30
    for split in ("train", "x-valid"):
        assert np.array_equal(unpacked[split].images.numpy(), original[split].images.numpy())
    stored = gpu_check.Records.from_json(folder / gpu_check.ARCHIVE_TRUTH)
    direct = gpu_check.Records.from_groundtruth(gt_hp12)
    assert stored.arch_strings == direct.arch_strings
    np.testing.assert_array_equal(stored.hp12, direct.hp12)
    np.testing.assert_array_equal(stored.hp200, direct.hp200)
    assert stored.seconds_per_arch_epoch == direct.seconds_per_arch_epoch


def test_a_missing_archive_is_bad_input(tmp_path, capsys) -> None:
    assert main(["gpu-check", "--device", "cpu", "--archive", str(tmp_path / "none.tar.gz")]) == 2
    assert "--pack" in capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_the_full_check_without_cuda_says_to_run_tiny(capsys) -> None:
    assert main(["gpu-check"]) == 2
    assert "--tiny" in capsys.readouterr().err


def test_spread_archs_cover_the_range_one_per_class(gt: GroundTruth) -> None:
    recorded = gt.metric("cifar10-valid", "x-valid", "acc")
    picked = gpu_check.spread_archs(recorded, gt.arch_strings, 16)
    values = recorded[picked]
    assert len(picked) == 16 and np.all(np.diff(values) >= 0)
    assert len({space.isomorphism_key(gt.arch_strings[i]) for i in picked}) == 16
    unique = recorded[space.unique_representatives(gt.arch_strings)]
    assert values[0] <= np.nanquantile(unique, 1 / 16) and values[-1] >= np.nanquantile(unique, 15 / 16)


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"archs": 8}, "at least 16"),
        ({"precisions": ("fp16",)}, "precisions"),
        ({"budget_seconds": math.inf}, "budget"),
    ],
)
def test_bad_plans_are_rejected(changes, match) -> None:
    with pytest.raises(ValueError, match=match):
        dataclasses.replace(gpu_check.Plan.full(), **changes)


def test_the_device_script_parses_and_its_archive_is_ignored_by_git() -> None:
    root = Path(__file__).resolve().parents[2]
    script = root / "benchmarks" / "gpu_check_device.sh"
    assert subprocess.run(["bash", "-n", str(script)], capture_output=True).returncode == 0
    assert "--archive .gpu-check/cifar10-train.tar.gz" in script.read_text()
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", ".gpu-check/cifar10-train.tar.gz"], cwd=root, capture_output=True
    )
    assert ignored.returncode == 0  # the archive travels only when carried, never in a commit
