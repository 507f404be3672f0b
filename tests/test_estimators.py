import numpy as np
import pytest

import estimators
from estimators.base import Estimator
from harness.evaluate import Target, evaluate, select_archs


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
    first = estimator.estimate(np.array([11]), "cifar10-valid", seed=0)
    second = estimator.estimate(np.array([11]), "cifar10-valid", seed=888)
    assert first.scores[0] == pytest.approx(87.748, abs=1e-3) and first.metadata["seed"] == 777
    assert second.scores[0] == pytest.approx(88.132, abs=1e-3)
    assert first.costs[0] == pytest.approx(gt.cost("cifar10-valid", "train_time")[11])


def test_hp12_cost_is_prorated_training_time(gt_hp12):
    estimator = estimators.create("tabular-hp12", gt_hp12)
    result = estimator.estimate(np.array([1, 2]), "cifar10-valid")
    np.testing.assert_allclose(result.costs, gt_hp12.cost("cifar10-valid", "train_time")[[1, 2]] * 12 / 200)


def test_hp12_tau_against_full_training(gt_hp12):
    evaluation = evaluate(
        estimators.create("tabular-hp12", gt_hp12), gt_hp12, "cifar10-valid", np.arange(15625), n_boot=20
    )
    assert 0.6 < evaluation.report.kendall_tau.value < 0.7  # the 12-epoch schedule ranks far from perfectly


def test_hp12_without_table_names_the_fix(gt):
    with pytest.raises(ValueError, match="has no acc on cifar10-valid x-valid \\(hp=12\\)"):
        estimators.create("tabular-hp12", gt).estimate(np.array([1]), "cifar10-valid")


def test_seed_ceiling_beats_size_baseline(gt):
    archs = select_archs("300", gt, seed=0)
    ceiling = evaluate(estimators.create("tabular-hp200-seed", gt), gt, "cifar10-valid", archs, n_boot=50)
    size = evaluate(estimators.create("params", gt), gt, "cifar10-valid", archs, n_boot=50)
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
