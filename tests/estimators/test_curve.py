"""Learning-curve extrapolation: features, the regressor on curves with a known law, the stored-curve estimator, the
one-seed read and the runs it pays for."""

from __future__ import annotations

import json
import shutil

import h5py
import numpy as np
import pytest

import estimators
from estimators import curve
from harness import metrics, network, space
from harness.estimation import NB201_GPU
from harness.groundtruth import GroundTruth, schema

ARCHS = (
    "|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|",
    "|none~0|+|skip_connect~0|none~1|+|avg_pool_3x3~0|none~1|nor_conv_3x3~2|",
)


def law_curves(n: int, epochs: int = 100, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Curves a - b * exp(-t / 20): the final value a is readable from the first epochs, not from one epoch alone."""
    rng = np.random.default_rng(seed)
    final, gap = rng.uniform(60, 95, n), rng.uniform(10, 60, n)
    t = np.arange(1, epochs + 1)
    return final[:, None] - gap[:, None] * np.exp(-t[None, :] / 20), final


def test_curve_features_are_values_and_their_first_and_second_differences() -> None:
    features = curve.curve_features([[1, 2, 4, 8, 16], [0, 1, 1, 1]], k=4)
    np.testing.assert_array_equal(features[0], [1, 2, 4, 8, 1, 2, 4, 1, 2])
    np.testing.assert_array_equal(features[1], [0, 1, 1, 1, 1, 0, 0, -1, 0])
    with pytest.raises(ValueError, match="at least k=6 epochs"):
        curve.curve_features([[1, 2, 3]], k=6)
    with pytest.raises(ValueError, match=r"k = .* is invalid: must be an int in 1\.\.199"):
        curve.curve_features([[1, 2, 3]], k=0)


def test_arch_features_are_one_hot_ops_then_params_and_flops() -> None:
    features = curve.arch_features(ARCHS)
    assert features.shape == (2, space.NUM_EDGES * len(space.OPS) + 2)
    one_hot = features[:, :-2].reshape(2, space.NUM_EDGES, len(space.OPS))
    assert one_hot.sum(axis=2).tolist() == [[1] * space.NUM_EDGES] * 2
    assert space.OPS[int(one_hot[1, 0].argmax())] == "none"
    assert features[0, -2:].tolist() == [network.params(ARCHS[0]), network.flops(ARCHS[0])]


@pytest.mark.parametrize("model", curve.MODELS)
def test_extrapolation_beats_the_last_seen_epoch_when_curves_follow_a_law(model: str) -> None:
    curves, finals = law_curves(80)
    features = np.zeros((80, 1))
    extrapolator = curve.CurveExtrapolator(10, model, seed=0).fit(features[:40], curves[:40], finals[:40])
    predicted = extrapolator.predict(features[40:], curves[40:])
    again = curve.CurveExtrapolator(10, model, seed=0).fit(features[:40], curves[:40], finals[:40])
    np.testing.assert_array_equal(predicted, again.predict(features[40:], curves[40:]))
    naive = metrics.kendall_tau(curves[40:, 9], finals[40:])
    assert metrics.kendall_tau(predicted, finals[40:]) > naive + 0.15


def test_live_partial_curves_of_any_length_and_failed_runs() -> None:
    curves, finals = law_curves(30)
    extrapolator = curve.CurveExtrapolator(5, seed=0).fit(np.zeros((30, 1)), curves, finals)
    partial = [curves[0, :5].tolist(), curves[1, :12].tolist(), [np.nan] * 7]
    predicted = extrapolator.predict(np.zeros((3, 1)), partial)
    assert np.all(np.isfinite(predicted[:2])) and np.isnan(predicted[2])
    assert predicted[0] == extrapolator.predict(np.zeros((1, 1)), [curves[0, :5]])[0]


def test_extrapolator_and_estimator_refuse_bad_input() -> None:
    curves, finals = law_curves(4)
    with pytest.raises(ValueError, match="fit the extrapolator before predicting"):
        curve.CurveExtrapolator(5).predict(np.zeros((1, 1)), curves[:1])
    with pytest.raises(ValueError, match="model must be one of"):
        curve.CurveExtrapolator(5, model="lstm")
    with pytest.raises(ValueError, match="one row per curve"):
        curve.CurveExtrapolator(5).fit(np.zeros((3, 1)), curves, finals)
    with pytest.raises(ValueError, match="unknown curve option"):
        estimators.create("curve-k10", None, k=5)
    with pytest.raises(ValueError, match=r"CurveSettings\.n_train = .* is invalid: must be an int >= 2"):
        curve.CurveSettings(n_train=1)


def write_curves_csv(path, gt: GroundTruth, archs: np.ndarray, curves: np.ndarray) -> None:
    lines = ["arch_i,arch_str,val_accs"]
    lines += [f'{a},{gt.arch(int(a))},"{json.dumps(c.tolist())}"' for a, c in zip(archs, curves, strict=True)]
    path.write_text("\n".join(lines) + "\n")


def forward_macs(gt: GroundTruth, archs, num_classes: int = 10) -> np.ndarray:
    """Multiply-adds of one forward pass of each arch at NB201 size and 32 px."""
    return np.array([network.flops(gt.arch(int(a)), num_classes=num_classes) * 1e6 for a in archs])


def test_estimator_fits_on_other_archs_and_pays_every_run_of_a_seed_mean_curve(gt, tmp_path) -> None:
    archs = np.arange(100, 140)
    curves, _ = law_curves(40, epochs=200)
    write_curves_csv(tmp_path / "curves.csv", gt, archs, curves)
    estimator = estimators.create("curve-k10", gt, curves_csv=str(tmp_path / "curves.csv"), n_train=20)
    asked = np.array([*archs[:10], 5])
    estimation = estimator.estimate(asked, "cifar10-valid", seed=0)
    assert np.all(np.isfinite(estimation.scores[:10])) and np.isnan(estimation.scores[10])
    fit = estimation.metadata["fit_archs"]
    assert len(fit) == 20 and not set(fit) & set(asked.tolist())
    runs = 3  # the CSV's curves are seed means of NB201's three runs: all three are paid
    assert estimation.metadata["mean_runs"] == runs and estimation.metadata["n_seed_mean_curves"] == 10
    fit_cost = runs * gt.train_seconds("cifar10-valid")[fit].sum()
    expected = runs * gt.train_seconds("cifar10-valid", epochs=10)[asked[:10]] + fit_cost / 10
    np.testing.assert_allclose(estimation.costs, [*expected, 0])
    assert estimation.device == NB201_GPU
    forward, fit_forward = forward_macs(gt, asked[:10]), forward_macs(gt, fit)
    train_fit = (fit_forward * 25_000 * 200 * 3 * runs).sum() / 10
    np.testing.assert_allclose(estimation.train_macs, [*(forward * 25_000 * 10 * 3 * runs + train_fit), 0])
    eval_fit = (fit_forward * 25_000 * 200 * runs).sum() / 10
    np.testing.assert_allclose(estimation.eval_macs, [*(forward * 25_000 * 10 * runs + eval_fit), 0])
    assert estimation.reads is not None and (estimation.reads.seeds == schema.MEAN_SEED).all()
    one_run = estimators.create("curve-k10", gt, curves_csv=str(tmp_path / "curves.csv"), n_train=20, mean_runs=1)
    np.testing.assert_allclose(one_run.estimate(asked, "cifar10-valid", seed=0).costs, [*expected / runs, 0])
    assert estimation.metadata["n_without_curve"] == 1
    assert estimator.config == {"k": 10, "model": "gradient_boosting", "n_train": 20}
    with pytest.raises(ValueError, match="none of the 2 archs asked for has a stored curve"):
        estimator.estimate(np.array([5, 6]), "cifar10-valid")
    with pytest.raises(ValueError, match="needs 35 stored curves"):
        estimators.create("curve-k10", gt, curves_csv=str(tmp_path / "curves.csv"), n_train=35).estimate(
            asked, "cifar10-valid"
        )


def with_curves(source, path, archs: np.ndarray, seeds: tuple[int, ...], epochs: int = 25) -> np.ndarray:
    """A copy of the ground truth at `path` with law curves of `archs` on cifar100 x-valid for `seeds`; returns them."""
    shutil.copy(source, path)
    with h5py.File(path, "a") as h5:
        n = h5["arch_strings"].shape[0]
        values, curve_values = np.full((n, len(seeds)), np.nan), np.full((n, len(seeds), epochs), np.nan)
        for column in range(len(seeds)):
            curves, finals = law_curves(len(archs), epochs=epochs, seed=column)
            values[archs, column], curve_values[archs, column] = finals, curves
        table = schema.Table(values, seeds, curve_values)
        schema.write_table(h5, f"{schema.group_path('cifar100', 200, 'x-valid')}/acc", table)
    return curve_values


def test_curves_come_from_the_ground_truth_where_it_has_them(embedded_gt_path, tmp_path) -> None:
    archs = np.arange(30)
    curve_values = with_curves(embedded_gt_path, tmp_path / "gt.h5", archs, (777,))
    with GroundTruth.open(tmp_path / "gt.h5", build=False) as handle:
        stored = curve.stored_curves(handle, "cifar100", epochs=20)
        assert stored.archs.tolist() == archs.tolist() and "ground truth" in stored.source
        np.testing.assert_allclose(stored.curves, curve_values[archs, 0, :20])
        # the final of the same run (seed 777), not the mean over the seeds the ground truth has
        np.testing.assert_allclose(stored.finals, handle.metric("cifar100", "x-valid", "acc", seeds=777)[archs])
        assert (stored.seeds == 777).all() and (stored.runs == 1).all()
        with pytest.raises(ValueError, match="no stored 200-epoch x-valid curves for ImageNet16-120"):
            curve.stored_curves(handle, "ImageNet16-120", epochs=20)


def test_choose_seeds_draws_one_available_seed_per_arch_reproducibly() -> None:
    available = np.array([[1, 1, 0], [0, 0, 0], [0, 1, 0], [1, 1, 1]] * 50, dtype=bool)
    chosen = curve.choose_seeds(available, seed=0)
    np.testing.assert_array_equal(chosen, curve.choose_seeds(available, seed=0))
    assert all(available[i, c] for i, c in enumerate(chosen) if c >= 0)
    assert (chosen[1::4] == -1).all() and (chosen[2::4] == 1).all()
    assert set(chosen[3::4].tolist()) == {0, 1, 2} and set(chosen[0::4].tolist()) == {0, 1}
    assert not np.array_equal(chosen, curve.choose_seeds(available, seed=1))
    changed = available.copy()
    changed[0] = [False, False, True]
    again = curve.choose_seeds(changed, seed=0)
    assert again[0] == 2 and np.array_equal(again[1:], chosen[1:])  # an arch's draw ignores the other archs


def test_one_seed_curve_is_read_per_arch_and_one_run_paid(embedded_gt_path, tmp_path) -> None:
    archs = np.arange(40)
    curve_values = with_curves(embedded_gt_path, tmp_path / "gt.h5", archs, (777, 888))
    with GroundTruth.open(tmp_path / "gt.h5", build=False) as handle:
        stored = curve.stored_curves(handle, "cifar100", epochs=20, seed=0)
        assert stored.archs.tolist() == archs.tolist() and set(stored.seeds.tolist()) == {777, 888}
        column = np.where(stored.seeds == 777, 0, 1)
        np.testing.assert_allclose(stored.curves, curve_values[archs, column, :20])
        finals = handle.metric("cifar100", "x-valid", "acc", seeds="all")
        seed_columns = [handle.seeds("cifar100", "x-valid", "acc").index(s) for s in stored.seeds]
        np.testing.assert_allclose(stored.finals, finals[archs, seed_columns])
        assert (stored.runs == 1).all()
        other = curve.stored_curves(handle, "cifar100", epochs=20, seed=1)
        assert not np.array_equal(other.seeds, stored.seeds)

        asked = archs[:10]
        estimation = estimators.create("curve-k10", handle, n_train=20).estimate(asked, "cifar100", seed=0)
        assert np.all(np.isfinite(estimation.scores)) and estimation.device == NB201_GPU
        reads = estimation.reads
        assert reads is not None and (reads.split, reads.metric, reads.hp) == ("x-valid", "acc", 200)
        np.testing.assert_array_equal(reads.seeds, curve.stored_curves(handle, "cifar100", 10, seed=0).seeds[asked])
        fit = estimation.metadata["fit_archs"]
        fit_cost = handle.train_seconds("cifar100")[fit].sum()  # one run per fit curve
        expected = handle.train_seconds("cifar100", epochs=10)[asked] + fit_cost / 10
        np.testing.assert_allclose(estimation.costs, expected)
        forward, fit_forward = forward_macs(handle, asked, 100), forward_macs(handle, fit, 100)
        train_fit = (fit_forward * 50_000 * 200 * 3).sum() / 10
        np.testing.assert_allclose(estimation.train_macs, forward * 50_000 * 10 * 3 + train_fit)
        np.testing.assert_allclose(estimation.eval_macs, forward * 5_000 * 10 + (fit_forward * 5_000 * 200).sum() / 10)
        assert estimation.metadata["n_seed_mean_curves"] == 0


@pytest.mark.shared_data
def test_reference_curves_rank_unseen_archs(gt, shared_data) -> None:
    archs = np.array(sorted(curve.stored_curves(gt, "cifar10-valid", epochs=20).archs))[:100]
    estimation = estimators.create("curve-k20", gt).estimate(archs, "cifar10-valid", seed=0)
    truth = gt.metric("cifar10-valid", "x-valid", "acc")[archs]
    assert np.all(np.isfinite(estimation.scores))
    assert metrics.kendall_tau(estimation.scores, truth) > 0.55
