"""The `bpe` estimator: config validation, presets, hashing, and end-to-end runs through the store on synthetic data."""

from __future__ import annotations

import argparse
import json
from dataclasses import fields, replace
from pathlib import Path

import numpy as np
import pytest
import torch

from estimators import registry
from estimators.bpe import PRESETS, SYNTHETIC_ROOT, BPEConfig, BPEEstimator, bpe
from harness.cli import bpe_options
from harness.cli import train as train_cli
from harness.store import Store

TINY = BPEConfig(epochs=2, batch_size=64, lr=0.1, channels=4, cells=1, resolution=8)
ARCHS = np.array([11, 284, 1000])


@pytest.fixture
def one_thread():
    """Tiny CPU runs on shared cores go faster (and steadier) with one torch thread."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_defaults_are_the_full_nb201_protocol() -> None:
    config = BPEConfig()
    assert config.to_dict() == {
        "epochs": 200,
        "batch_size": 256,
        "lr": 0.1,
        "channels": 16,
        "cells": 5,
        "resolution": 32,
        "fraction": 1.0,
        "cutout": 0,
        "precision": "fp32",
    }
    assert PRESETS["nb201"] == config


@pytest.mark.parametrize(
    "field, value",
    [
        ("epochs", 0),
        ("epochs", 2.5),
        ("batch_size", -1),
        ("lr", 0),
        ("lr", float("nan")),
        ("channels", True),
        ("cells", 0),
        ("resolution", 30),
        ("resolution", 4),
        ("fraction", 0.0),
        ("fraction", 1.5),
        ("cutout", -1),
        ("cutout", 64),
        ("precision", "fp8"),
    ],
)
def test_invalid_fields_are_named(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=rf"BPEConfig\.{field} = .*must be"):
        BPEConfig(**{field: value})


def test_presets_are_valid_and_bpe1_is_the_papers() -> None:
    assert {"nb201", "bpe1", "bpe2", "cpu-tiny", "cpu-small", "cpu-medium"} <= set(PRESETS)
    assert all(isinstance(config, BPEConfig) for config in PRESETS.values())
    assert PRESETS["bpe1"] == BPEConfig(epochs=10, batch_size=128, lr=0.03, channels=8, cells=2, resolution=16)
    assert len({config.config_hash() for config in PRESETS.values()}) == len(PRESETS)
    tiny, small, medium = (PRESETS[name] for name in ("cpu-tiny", "cpu-small", "cpu-medium"))
    budget = [c.epochs * c.fraction * c.resolution**2 * c.channels**2 * c.cells for c in (tiny, small, medium)]
    assert budget == sorted(budget) and medium.epochs * medium.fraction < 1


def test_hash_is_stable_and_sensitive_to_every_field() -> None:
    base = BPEConfig()
    assert base.config_hash() == "20ca5765175a04a5"  # changing this orphans every stored result
    assert BPEConfig(lr=1).config_hash() == BPEConfig(lr=1.0).config_hash()
    changed = {"epochs": 12, "batch_size": 128, "lr": 0.05, "channels": 8, "cells": 2, "resolution": 16,
               "fraction": 0.5, "cutout": 16, "precision": "bf16"}  # fmt: skip
    assert set(changed) == {f.name for f in fields(BPEConfig)}
    hashes = {replace(base, **{name: value}).config_hash() for name, value in changed.items()}
    assert len(hashes) == len(changed) and base.config_hash() not in hashes


def test_from_preset_and_train_config() -> None:
    config = BPEConfig.from_preset("bpe1", epochs=3)
    assert config.epochs == 3 and config.channels == 8
    with pytest.raises(ValueError, match="unknown BPE preset"):
        BPEConfig.from_preset("bpe9")
    with pytest.raises(ValueError, match="unknown BPEConfig field"):
        BPEConfig.from_preset("bpe1", width=3)
    train_config = config.to_train_config(seed=7, device="cpu")
    assert (train_config.seed, train_config.device, train_config.epochs, train_config.lr) == (7, "cpu", 3, 0.03)


def test_registered_as_a_live_bpe_estimator(gt) -> None:
    entry = registry.entry("bpe")
    assert entry.family == "bpe" and entry.live
    estimator = entry.factory(gt)
    assert isinstance(estimator, BPEEstimator) and estimator.bpe == BPEConfig()
    assert estimator.config == BPEConfig().to_dict() | {"eval_split": "x-valid"}
    with pytest.raises(ValueError, match="eval_split"):
        bpe(gt, eval_split="test")
    with pytest.raises(ValueError, match="workers"):
        bpe(gt, workers=0)


def _estimator(gt, store: Path, **options) -> BPEEstimator:
    options = {"data_root": SYNTHETIC_ROOT, "workers": 1, "threads": 1, "progress": False} | options
    return bpe(gt, TINY, store=store, **options)


@pytest.mark.slow
def test_estimates_through_the_store_and_a_rerun_skips_stored_work(gt, tmp_path: Path) -> None:
    path = tmp_path / "results.h5"
    first = _estimator(gt, path).estimate(ARCHS[:2], "cifar10-valid", seed=0)
    assert first.metadata["computed"] == 2 and first.metadata["reused"] == 0
    assert np.isfinite(first.scores).all() and (first.scores >= 0).all() and (first.scores <= 100).all()
    assert (first.costs > 0).all() and first.metadata["total_macs"] > 0 and first.metadata["failures"] == []

    second = _estimator(gt, path).estimate(ARCHS, "cifar10-valid", seed=0)
    assert second.metadata["computed"] == 1 and second.metadata["reused"] == 2
    np.testing.assert_array_equal(second.scores[:2], first.scores)
    np.testing.assert_array_equal(second.costs[:2], first.costs)

    with Store(path, readonly=True) as store:
        key = second.metadata["store_key"]
        config = TINY.to_dict() | {"eval_split": "x-valid", "data": "synthetic"}  # never mixed with real images
        assert store.config(key) == {"estimator": "bpe", "config": config}
        table = store.results(key, "cifar10-valid")
        assert sorted(table.arch.tolist()) == sorted(ARCHS.tolist())
        assert (table.curve_length == TINY.epochs).all() and np.isfinite(table.curves).all()
        assert set(table.score.tolist()) == set(second.scores.tolist())


@pytest.mark.slow
def test_runs_inside_a_callers_open_writer(gt, tmp_path: Path) -> None:
    path = tmp_path / "results.h5"
    with Store(path) as store:
        estimation = _estimator(gt, path, curve=False).estimate(ARCHS[:1], "cifar100", seed=1)
        assert store.has(estimation.metadata["store_key"], "cifar100", int(ARCHS[0]), 1)
    table = Store(path, readonly=True).results(estimation.metadata["store_key"], "cifar100")
    assert np.isnan(table.curves[0, 0]) and table.curves[0, -1] == estimation.scores[0]  # only the last epoch


def test_failed_units_are_reported_and_not_stored(gt, tmp_path: Path) -> None:
    path = tmp_path / "results.h5"
    estimator = _estimator(gt, path, data_root=str(tmp_path / "no-such-data"))
    for _ in range(2):  # a rerun tries again
        estimation = estimator.estimate(ARCHS[:2], "cifar10-valid")
        assert np.isnan(estimation.scores).all() and np.isnan(estimation.costs).all()
        assert estimation.metadata["computed"] == 0
        assert [f["arch"] for f in estimation.metadata["failures"]] == ARCHS[:2].tolist()
        assert "data not found" in estimation.metadata["failures"][0]["reason"]
    assert len(Store(path, readonly=True)) == 0
    with pytest.raises(ValueError, match="unknown dataset"):
        estimator.estimate(ARCHS[:1], "mnist")
    with pytest.raises(ValueError, match="cifar10 has no x-valid split"):
        estimator.estimate(ARCHS[:1], "cifar10")


def _parse(add_parser, argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(argv)


def test_bpe_options_build_the_config() -> None:
    parser = argparse.ArgumentParser()
    bpe_options.add_bpe_options(parser)
    args = parser.parse_args(["--preset", "bpe1", "--epochs", "3", "--lr", "0.2", "--workers", "2"])
    assert bpe_options.bpe_config_from_args(args) == BPEConfig.from_preset("bpe1", epochs=3, lr=0.2)
    assert bpe_options.bpe_options_given(args) == ["--preset", "--epochs", "--lr", "--workers"]
    options = bpe_options.estimator_options(args)
    assert options["workers"] == 2 and options["config"].epochs == 3 and options["store"] is None
    assert bpe_options.bpe_config_from_args(parser.parse_args([])) == BPEConfig()
    with pytest.raises(ValueError, match=r"BPEConfig\.resolution"):
        bpe_options.bpe_config_from_args(parser.parse_args(["--resolution", "10"]))


@pytest.mark.slow
def test_train_command_prints_curve_and_cost(embedded_gt_path: Path, capsys, one_thread) -> None:
    common = ["--groundtruth", str(embedded_gt_path), "--preset", "cpu-tiny", "--data-root", SYNTHETIC_ROOT]
    common += ["--threads", "1"]
    args = _parse(train_cli.add_parser, ["train", "11", *common, "--epochs", "2", "--fraction", "1", "--json"])
    assert args.handler(args) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["arch"] == 11 and payload["bpe"]["epochs"] == 2 and len(payload["curve"]) == 2
    assert 0 <= payload["score"] <= 100 and payload["train_seconds"] > 0 and payload["macs"] > 0
    assert payload["nb201_200_epoch_accuracy"] > 50  # arch 11's recorded x-valid accuracy

    arch_str = payload["arch_str"]
    args = _parse(train_cli.add_parser, ["train", arch_str, *common, "--epochs", "1"])
    assert args.handler(args) == 0
    log = capsys.readouterr().out
    assert "epoch   1/1" in log and "cost:" in log and "NB201 200-epoch x-valid accuracy" in log
    with pytest.raises(ValueError, match="arch index"):
        bad = _parse(train_cli.add_parser, ["train", "99999", *common])
        bad.handler(bad)
