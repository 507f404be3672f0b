"""Learned predictors and the rank-vote: fitted archs disjoint from scored ones, label cost counted, features."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import stats

import estimators
from estimators import predictor
from harness import metrics, space
from harness.estimation import Execution
from harness.store import Result, Store
from harness.stored import estimator_key, estimator_record

DATASET = "cifar10-valid"


def _asked(n: int = 300, seed: int = 3) -> np.ndarray:
    return np.sort(np.random.default_rng(seed).choice(space.NUM_ARCHS, size=n, replace=False))


def test_fitted_archs_are_disjoint_from_the_scored_ones_and_listed(gt) -> None:
    archs = _asked()
    result = estimators.create("predictor", gt, k=40, trees=20).estimate(archs, DATASET, seed=1)
    fitted = np.array(result.metadata["fitted_archs"])
    assert len(fitted) == len(set(fitted.tolist())) == 40
    assert not np.isin(fitted, archs).any()
    assert np.isfinite(result.scores).all()
    again = estimators.create("predictor", gt, k=40, trees=20).estimate(archs, DATASET, seed=2)
    assert set(again.metadata["fitted_archs"]) != set(fitted.tolist()), "a seed draws its own fitted archs"


def test_the_label_cost_is_the_label_estimators_cost_of_the_fitted_archs(gt) -> None:
    archs = _asked()
    costs = {}
    for k in (10, 30):
        result = estimators.create("predictor", gt, k=k, trees=20).estimate(archs, DATASET, seed=0)
        fitted = np.array(result.metadata["fitted_archs"])
        labels = estimators.create("tabular-hp200-seed", gt).estimate(fitted, DATASET, seed=0)
        assert result.device == labels.device
        np.testing.assert_allclose(result.costs.sum(), labels.costs.sum())  # onehot, path, size are free reads
        np.testing.assert_allclose(result.train_macs.sum(), labels.train_macs.sum())
        np.testing.assert_allclose(result.metadata["label_cost"]["seconds"], labels.costs.sum())
        assert np.ptp(result.costs) == 0, "the bill is spread evenly over the scored archs"
        costs[k] = result.costs.sum()
    assert costs[30] > 2 * costs[10] > 0


def test_a_predictor_beats_chance_and_its_features_matter(gt) -> None:
    archs = _asked(500)
    truth = gt.metric(DATASET, "x-valid", "acc")[archs]
    taus = {}
    for regressor in predictor.REGRESSORS:
        result = estimators.create("predictor", gt, regressor=regressor, k=100, trees=50).estimate(archs, DATASET, 0)
        taus[regressor] = metrics.kendall_tau(result.scores, truth)
    assert min(taus.values()) > 0.3, taus


def test_too_few_archs_left_to_fit_on_is_a_clear_error(gt) -> None:
    with pytest.raises(ValueError, match="labelled archs outside"):
        estimators.create("predictor", gt, k=100).estimate(np.arange(space.NUM_ARCHS - 50), DATASET, 0)


@pytest.mark.parametrize(
    ("fields", "match"),
    [({"regressor": "svm"}, "rf, gbr, lgbm"), ({"features": "onehot,bogus"}, "est:NAME"), ({"k": 1}, "k"),
     ({"label": "nope"}, "unknown estimator")],
)  # fmt: skip
def test_bad_predictor_settings_name_what_is_allowed(gt, fields: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        estimators.create("predictor", gt, **fields)


def test_path_encoding_counts_the_paths_without_none() -> None:
    only_none = space.format_ops(["none"] * space.NUM_EDGES)
    all_conv = space.format_ops(["nor_conv_3x3"] * space.NUM_EDGES)
    direct = space.format_ops(["none", "none", "none", "skip_connect", "none", "none"])  # only the edge 3<-0
    encoded = predictor.path_encoding([only_none, all_conv, direct])
    assert encoded.shape == (3, 100)
    assert encoded.sum(axis=1).tolist() == [0.0, 4.0, 1.0]


def _zerocost_store(gt, path: Path, archs: np.ndarray) -> None:
    """A store holding fake table proxies of `archs` under the keys of the registered zero-cost estimators."""
    truth = gt.metric(DATASET, "x-valid", "acc")
    rng = np.random.default_rng(0)
    with Store(path) as store:
        for name, estimator in predictor.zerocost_estimators(gt, Execution()).items():
            key = estimator_key(estimator)
            store.add_config(key, estimator_record(estimator))
            for arch in archs.tolist():
                value = truth[arch] + rng.normal(0, 1.0) if name != "naswot" else rng.normal()
                store.put(key, DATASET, Result(arch, 0, float(value), wall_seconds=0.5, eval_macs=1e6, device="cpu x"))


def test_zerocost_features_are_read_from_the_store_and_their_cost_kept_apart(gt, tmp_path: Path) -> None:
    table = np.sort(np.random.default_rng(1).choice(space.NUM_ARCHS, size=200, replace=False))
    _zerocost_store(gt, tmp_path / "zc.h5", table)
    execution = Execution(store=tmp_path / "zc.h5", progress=False)
    asked = table[:120]
    model = estimators.create("predictor", gt, features="zc", k=50, trees=30, execution=execution)
    result = model.estimate(asked, DATASET, seed=0)
    fitted = np.array(result.metadata["fitted_archs"])
    assert np.isin(fitted, table[120:]).all(), "fitted archs come from the rest of the table"
    truth = gt.metric(DATASET, "x-valid", "acc")[asked]
    assert metrics.kendall_tau(result.scores, truth) > 0.3
    # 5 proxies x 0.5 s on another device, for the scored and the fitted archs: listed, never added to NB201 seconds
    assert result.metadata["seconds_elsewhere"] == {"cpu x": pytest.approx(5 * 0.5 * (120 + 50))}
    labels = estimators.create("tabular-hp200-seed", gt).estimate(fitted, DATASET, seed=0)
    np.testing.assert_allclose(result.costs.sum(), labels.costs.sum())
    np.testing.assert_allclose(result.metadata["feature_macs"], 5 * 1e6 * (120 + 50))


def test_naslib_features_fit_and_score_inside_the_reference_file(gt, shared_data: Path) -> None:
    archs = predictor.naslib_archs(gt, DATASET)
    assert 700 <= len(archs) <= 730
    asked = archs[25:]
    result = estimators.create("predictor", gt, features="naslib", k=25, trees=30).estimate(asked, DATASET, 0)
    assert np.isin(result.metadata["fitted_archs"], archs[:25]).all()
    truth = gt.metric(DATASET, "x-valid", "acc")[asked]
    assert metrics.kendall_tau(result.scores, truth) > 0.4
    assert set(result.metadata["seconds_elsewhere"]) == {predictor.NASLIB_DEVICE}


def test_the_vote_averages_its_members_ranks_and_sums_their_costs(gt) -> None:
    archs = _asked(50)
    result = estimators.create("vote", gt, members="params,tabular-hp200-seed").estimate(archs, DATASET, seed=0)
    params = estimators.create("params", gt).estimate(archs, DATASET).scores
    trial = estimators.create("tabular-hp200-seed", gt).estimate(archs, DATASET, seed=0)
    np.testing.assert_allclose(result.scores, (stats.rankdata(params) + stats.rankdata(trial.scores)) / 2)
    np.testing.assert_allclose(result.costs, trial.costs)
    assert result.device == trial.device


def test_a_vote_needs_two_distinct_members(gt) -> None:
    with pytest.raises(ValueError, match="at least 2"):
        estimators.create("vote", gt, members="synflow")
