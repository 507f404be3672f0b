"""The `bpe` estimator: config validation, presets, hashing, store keys, and end-to-end runs through the store on
synthetic data (costs counted apart: training and evaluation, seconds and multiply-adds)."""

from __future__ import annotations

import argparse
import json
from dataclasses import fields, replace
from pathlib import Path

import numpy as np
import pytest
import torch

import estimators
from estimators.bpe import SYNTHETIC_ROOT, BPEEstimator, bpe, store_key
from harness import network
from harness.app.cli import options as cli_options
from harness.app.cli import train as train_cli
from harness.estimation import Execution
from harness.store import Store
from harness.train import BPE, PRESETS, device_label

TINY = BPE(epochs=2, batch_size=64, lr=0.1, channels=4, cells=1, resolution=8)
ARCHS = np.array([11, 284, 1000])


def test_defaults_are_the_full_nb201_protocol() -> None:
    config = BPE()
    assert config.to_dict() == {
        "epochs": 200,
        "batch_size": 256,
        "lr": 0.1,
        "lr_schedule": "epoch",
        "channels": 16,
        "cells": 5,
        "resolution": 32,
        "fraction": 1.0,
        "cutout": 0,
        "eval_images": 0,
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
        ("lr_schedule", "cosine"),
        ("channels", True),
        ("cells", 0),
        ("resolution", 30),
        ("resolution", 4),
        ("fraction", 0.0),
        ("fraction", 1.5),
        ("cutout", -1),
        ("cutout", 64),
        ("eval_images", -1),
        ("eval_images", 0.5),
        ("precision", "fp8"),
    ],
)
def test_invalid_fields_are_named(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=rf"BPE\.{field} = .*must be"):
        BPE(**{field: value})


def test_presets_are_valid_and_bpe1_and_bpe2_are_the_papers() -> None:
    assert {"nb201", "bpe1", "bpe2", "cpu-tiny", "cpu-small", "cpu-medium"} <= set(PRESETS)
    assert all(isinstance(config, BPE) for config in PRESETS.values())
    assert PRESETS["bpe1"] == BPE(epochs=10, batch_size=128, lr=0.03, channels=8, cells=2, resolution=16)
    # BPE2: 30 epochs, batch 128, lr 0.03, 16 layers (-> N = round(16 / 3) = 5), 16 channels, 16 px, fp32, no cutout
    assert PRESETS["bpe2"] == BPE(epochs=30, batch_size=128, lr=0.03, channels=16, cells=5, resolution=16)
    assert len({config.config_hash() for config in PRESETS.values()}) == len(PRESETS)
    tiny, small, medium = (PRESETS[name] for name in ("cpu-tiny", "cpu-small", "cpu-medium"))
    budget = [c.epochs * c.fraction * c.resolution**2 * c.channels**2 * c.cells for c in (tiny, small, medium)]
    assert budget == sorted(budget) and medium.epochs * medium.fraction < 1


def test_hash_is_stable_and_sensitive_to_every_field() -> None:
    base = BPE()
    assert base.config_hash() == "5c868eadb0d89173"  # changing this orphans every stored result
    assert BPE(lr=1).config_hash() == BPE(lr=1.0).config_hash()
    changed = {"epochs": 12, "batch_size": 128, "lr": 0.05, "lr_schedule": "step", "channels": 8, "cells": 2,
               "resolution": 16, "fraction": 0.5, "cutout": 16, "eval_images": 1000, "precision": "bf16"}  # fmt: skip
    assert set(changed) == {f.name for f in fields(BPE)}
    hashes = {replace(base, **{name: value}).config_hash() for name, value in changed.items()}
    assert len(hashes) == len(changed) and base.config_hash() not in hashes


def test_from_preset_and_describe() -> None:
    config = BPE.from_preset("bpe1", epochs=3)
    assert config.epochs == 3 and config.channels == 8
    with pytest.raises(ValueError, match="unknown BPE preset"):
        BPE.from_preset("bpe9")
    with pytest.raises(ValueError, match="unknown BPE field"):
        BPE.from_preset("bpe1", width=3)
    subset = BPE(eval_images=500, lr_schedule="step")
    assert config.describe() == "e3 b128 lr0.03 C8 N2 16px f1 co0 fp32"
    assert subset.describe().endswith("fp32 lr-step ev500")


def test_registered_as_a_live_bpe_estimator(gt) -> None:
    entry = estimators.entry("bpe")
    assert entry.family == "bpe" and entry.live
    estimator = entry.factory(gt)
    assert isinstance(estimator, BPEEstimator) and estimator.bpe == BPE()
    assert estimator.curve is False  # one final evaluation by default
    assert estimator.config == BPE().to_dict() | {"eval_split": "x-valid"}
    with pytest.raises(ValueError, match="eval_split"):
        bpe(gt, eval_split="test")
    with pytest.raises(ValueError, match="workers"):
        bpe(gt, execution=Execution(workers=0))


def _estimator(gt, store: Path, data_root: str = SYNTHETIC_ROOT, curve: bool = False) -> BPEEstimator:
    return bpe(gt, TINY, execution=Execution(data_root, store, workers=1, threads=1, progress=False), curve=curve)


def test_store_key_is_the_estimators_and_names_eval_split_and_data(gt, tmp_path: Path) -> None:
    estimator = _estimator(gt, tmp_path / "results.h5")
    assert store_key(TINY, "x-valid", SYNTHETIC_ROOT) == estimator.key
    assert store_key(TINY, "x-valid", SYNTHETIC_ROOT) != TINY.config_hash()
    assert store_key(TINY) == bpe(gt, TINY, execution=Execution(str(tmp_path))).key  # real data: no "data" entry
    assert store_key(TINY, "ori-test") == bpe(gt, TINY, eval_split="ori-test").key != store_key(TINY)


def _forward(gt, arch: int, config: BPE = TINY) -> float:
    """Multiply-adds of one forward pass of `arch` under `config` on 10 classes."""
    return network.flops(gt.arch(arch), config.channels, config.cells, 10, config.resolution) * 1e6


@pytest.mark.slow
def test_estimates_through_the_store_and_a_rerun_skips_stored_work(gt, tmp_path: Path) -> None:
    path = tmp_path / "results.h5"
    first = _estimator(gt, path).estimate(ARCHS[:2], "cifar10-valid", seed=0)
    assert first.metadata["computed"] == 2 and first.metadata["reused"] == 0
    assert np.isfinite(first.scores).all() and (first.scores >= 0).all() and (first.scores <= 100).all()
    assert (first.costs > 0).all() and first.metadata["total_macs"] > 0 and first.metadata["failures"] == []
    assert first.device == device_label("auto")
    forward = np.array([_forward(gt, a) for a in ARCHS[:2]])
    np.testing.assert_allclose(first.train_macs, forward * 512 * TINY.epochs * 3)  # synthetic: 512 train images
    np.testing.assert_allclose(first.eval_macs, forward * 256 * 1)  # the 256 x-valid images, evaluated once
    assert first.metadata["total_macs"] == pytest.approx(float(first.macs.sum()))
    assert first.metadata["total_eval_macs"] == pytest.approx(float(first.eval_macs.sum()))

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
        assert (table.curve_length == TINY.epochs).all()
        assert np.isnan(table.curves[:, :-1]).all() and np.isfinite(table.curves[:, -1]).all()  # evaluated once
        assert set(table.score.tolist()) == set(second.scores.tolist())
        assert (table.eval_seconds > 0).all() and (table.eval_seconds < table.wall_seconds).all()
    np.testing.assert_allclose(second.eval_macs, [_forward(gt, a) * 256 for a in ARCHS])


@pytest.mark.slow
def test_eval_subset_and_curve_are_costed_apart(gt, tmp_path: Path) -> None:
    path = tmp_path / "results.h5"
    forward = _forward(gt, int(ARCHS[0]))
    measured = {}
    for size in (32, 96):
        config = replace(TINY, eval_images=size)
        execution = Execution(SYNTHETIC_ROOT, path, workers=1, threads=1, progress=False)
        estimator = bpe(gt, config, execution=execution)
        measured[size] = estimator.estimate(ARCHS[:1], "cifar10-valid", seed=0)
        assert measured[size].eval_macs[0] == pytest.approx(forward * size)
        assert measured[size].train_macs[0] == pytest.approx(forward * 512 * TINY.epochs * 3)
    assert measured[96].eval_macs[0] == pytest.approx(3 * measured[32].eval_macs[0])
    assert measured[32].metadata["store_key"] != measured[96].metadata["store_key"]  # the subset changes scores
    curve = _estimator(gt, path, curve=True).estimate(ARCHS[:1], "cifar10-valid", seed=0)
    assert curve.eval_macs[0] == pytest.approx(forward * 256 * TINY.epochs)  # after every epoch
    assert curve.metadata["total_eval_seconds"] > 0
    table = Store(path, readonly=True).results(curve.metadata["store_key"], "cifar10-valid")
    assert np.isfinite(table.curves).all()


@pytest.mark.slow
def test_runs_inside_a_callers_open_writer(gt, tmp_path: Path) -> None:
    path = tmp_path / "results.h5"
    with Store(path) as store:
        estimation = _estimator(gt, path, curve=False).estimate(ARCHS[:1], "cifar100", seed=1)
        assert store.has(estimation.metadata["store_key"], "cifar100", int(ARCHS[0]), 1)
    table = Store(path, readonly=True).results(estimation.metadata["store_key"], "cifar100")
    assert np.isnan(table.curves[0, 0]) and table.curves[0, -1] == estimation.scores[0]  # only the last epoch


def test_errors_every_unit_would_hit_are_raised_once_before_training(gt, tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "results.h5"
    estimator = _estimator(gt, path, data_root=str(tmp_path / "no-such-data"))
    trained = []
    monkeypatch.setattr("estimators.bpe.run_unit", lambda unit: trained.append(unit))
    synthetic = Execution(SYNTHETIC_ROOT, path, workers=1, threads=1, progress=False)
    too_many = bpe(gt, replace(TINY, eval_images=10**6), execution=synthetic)
    cases = [(estimator, "data not found"), (too_many, "eval_images")]
    if not torch.cuda.is_available():
        cases.append((bpe(gt, replace(TINY, precision="fp16"), execution=synthetic), "fp16"))
    for bad, match in cases:
        with pytest.raises(ValueError, match=match):
            bad.estimate(ARCHS[:2], "cifar10-valid")
    assert trained == [] and len(Store(path, readonly=True)) == 0


def test_a_unit_that_raises_stops_the_run_naming_the_arch_and_keeps_what_is_stored(gt, tmp_path: Path,
                                                                                    monkeypatch) -> None:
    from estimators import bpe as bpe_module

    real = bpe_module.run_unit

    def flaky(unit):
        if unit.arch == ARCHS[1]:
            raise MemoryError("out of memory")
        return real(unit)

    monkeypatch.setattr(bpe_module, "run_unit", flaky)
    path = tmp_path / "results.h5"
    estimator = _estimator(gt, path)
    with pytest.raises(ValueError, match=f"arch {ARCHS[1]} raised MemoryError: out of memory"):
        estimator.estimate(ARCHS, "cifar10-valid")
    assert len(Store(path, readonly=True)) == 1  # the arch trained before it is kept
    estimator = _estimator(gt, path, data_root=str(tmp_path / "no-such-data"))
    with pytest.raises(ValueError, match="unknown dataset"):
        estimator.estimate(ARCHS[:1], "mnist")
    with pytest.raises(ValueError, match="cifar10 has no x-valid split"):
        estimator.estimate(ARCHS[:1], "cifar10")


def _parse(add_parser, argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(argv)


def test_cli_options_build_the_config_and_execution() -> None:
    parser = argparse.ArgumentParser()
    cli_options.add_option_flags(parser, estimators.entries(), "options")
    cli_options.add_execution_flags(parser)
    entry = estimators.entry("bpe")
    args = parser.parse_args(["--preset", "bpe1", "--epochs", "3", "--lr", "0.2", "--workers", "2"])
    options = cli_options.live_options(entry, args)
    assert options["config"] == BPE.from_preset("bpe1", epochs=3, lr=0.2)
    assert options["execution"] == Execution(workers=2)
    assert cli_options.entry_config(entry, parser.parse_args([])) is None  # the factory's default: NB201
    with pytest.raises(ValueError, match=r"BPE\.resolution"):
        cli_options.entry_config(entry, parser.parse_args(["--resolution", "10"]))
    with pytest.raises(ValueError, match=r"--epochs do\(es\) not apply to 'synflow'"):
        cli_options.entry_config(estimators.entry("synflow"), parser.parse_args(["--epochs", "3"]))
    with pytest.raises(ValueError, match=r"--workers only apply to live estimators, not to 'params'"):
        cli_options.live_options(estimators.entry("params"), parser.parse_args(["--workers", "2"]))


@pytest.mark.slow
def test_train_command_prints_curve_and_cost(embedded_gt_path: Path, capsys, one_torch_thread) -> None:
    common = ["--groundtruth", str(embedded_gt_path), "--preset", "cpu-tiny", "--data-root", SYNTHETIC_ROOT]
    common += ["--threads", "1"]
    args = _parse(train_cli.add_parser, ["train", "11", *common, "--epochs", "2", "--fraction", "1", "--json"])
    assert args.handler(args) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["arch"] == 11 and payload["bpe"]["epochs"] == 2 and len(payload["curve"]) == 2
    assert 0 <= payload["score"] <= 100 and payload["train_seconds"] > 0 and payload["macs"] > 0
    config = BPE.from_preset("cpu-tiny", epochs=2, fraction=1.0)
    assert payload["store_key"] == store_key(config, "x-valid", SYNTHETIC_ROOT)  # where `estimate` stores this BPE
    assert payload["eval_macs"] > 0 and payload["device"] == device_label("auto")
    assert payload["nb201_200_epoch_accuracy"] > 50  # arch 11's recorded x-valid accuracy

    arch_str = payload["arch_str"]
    args = _parse(train_cli.add_parser, ["train", arch_str, *common, "--epochs", "1"])
    assert args.handler(args) == 0
    log = capsys.readouterr().out
    assert "epoch   1/1" in log and "cost:" in log and "NB201 200-epoch x-valid accuracy" in log
    assert f"store key {store_key(BPE.from_preset('cpu-tiny', epochs=1), 'x-valid', SYNTHETIC_ROOT)}" in log
    with pytest.raises(ValueError, match="arch index"):
        bad = _parse(train_cli.add_parser, ["train", "99999", *common])
        bad.handler(bad)
