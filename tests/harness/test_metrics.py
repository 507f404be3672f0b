import math

import numpy as np
import pytest
from scipy import stats

from harness import metrics


@pytest.fixture
def noisy():
    rng = np.random.default_rng(0)
    truth = rng.normal(size=300)
    return truth + rng.normal(scale=0.5, size=300), truth


def test_perfect_and_reversed_rankings():
    truth = np.arange(50.0)
    assert metrics.kendall_tau(truth * 2, truth) == pytest.approx(1.0)
    assert metrics.kendall_tau(-truth, truth) == pytest.approx(-1.0)
    assert metrics.spearman(truth**3, truth) == pytest.approx(1.0)
    many = np.arange(200.0)
    assert metrics.precision_at_top(many, many, 10) == 1.0
    assert metrics.precision_at_top(-many, many, 10) == 0.0
    assert metrics.regret(truth, truth) == 0.0
    assert metrics.regret(-truth, truth) == 49.0


def test_tau_b_with_ties_matches_definition():
    scores = np.array([1, 1, 2, 3, 3, 3, 4.0])
    truth = np.array([1, 2, 2, 3, 4, 5, 6.0])
    concordant = discordant = 0
    ties_x = ties_y = 0
    for i in range(len(scores)):
        for j in range(i + 1, len(scores)):
            dx, dy = np.sign(scores[i] - scores[j]), np.sign(truth[i] - truth[j])
            if dx == 0 and dy == 0:
                continue
            if dx == 0:
                ties_x += 1
            elif dy == 0:
                ties_y += 1
            elif dx == dy:
                concordant += 1
            else:
                discordant += 1
    expected = (concordant - discordant) / np.sqrt(
        (concordant + discordant + ties_x) * (concordant + discordant + ties_y)
    )
    assert metrics.kendall_tau(scores, truth) == pytest.approx(expected)


def test_failed_scores_rank_last_and_are_counted():
    truth = np.array([1.0, 2.0, 3.0, 4.0])
    prepared = metrics.prepare(np.array([1.0, np.nan, 3.0, np.inf]), truth)
    assert prepared.n_failed == 2
    assert prepared.scores[1] == prepared.scores[3] < prepared.scores[0]
    report = metrics.rank_report(np.array([1.0, np.nan, 3.0, np.inf]), truth, n_boot=50)
    assert report.n == 4 and report.n_failed == 2


def test_missing_truth_is_dropped_and_counted():
    report = metrics.rank_report(np.arange(5.0), np.array([0, 1, np.nan, 3, 4.0]), n_boot=20)
    assert report.n == 4 and report.n_missing_truth == 1
    assert report.kendall_tau.value == pytest.approx(1.0)


def test_constant_scores_give_nan_not_an_error():
    assert np.isnan(metrics.kendall_tau(np.ones(10), np.arange(10.0)))


def test_tau_in_true_top(noisy):
    scores, truth = noisy
    best = metrics.top_k(truth, 10)
    assert metrics.tau_in_true_top(scores, truth, 10) == pytest.approx(
        stats.kendalltau(scores[best], truth[best]).statistic
    )
    assert len(best) == 30 and truth[best].min() >= np.sort(truth)[-30]


def test_bootstrap_interval_covers_estimate_and_shrinks_with_n(noisy):
    scores, truth = noisy
    low, high = metrics.bootstrap_ci(metrics.kendall_tau, scores, truth, n_boot=300)
    assert low < metrics.kendall_tau(scores, truth) < high
    small_low, small_high = metrics.bootstrap_ci(metrics.kendall_tau, scores[:30], truth[:30], n_boot=300)
    assert small_high - small_low > high - low
    assert metrics.bootstrap_ci(metrics.kendall_tau, scores, truth, n_boot=100, seed=1) == metrics.bootstrap_ci(
        metrics.kendall_tau, scores, truth, n_boot=100, seed=1
    )


def test_bad_inputs():
    with pytest.raises(ValueError, match="equal length"):
        metrics.prepare(np.ones(3), np.ones(4))
    with pytest.raises(ValueError, match=r"\(0, 100\]"):
        metrics.top_k(np.ones(3), 0)
    with pytest.raises(ValueError, match="at least 2"):
        metrics.rank_report(np.ones(1), np.ones(1))


def test_top_k_metrics_need_ten_archs_in_the_top_set():
    """A precision or tau over 2 archs says nothing: below 10 archs in the top set they are n/a, CI included."""
    rng = np.random.default_rng(0)
    truth = rng.normal(size=50)
    scores = truth + rng.normal(size=50)
    report = metrics.rank_report(scores, truth, n_boot=50)
    assert math.isnan(report.precision_at_5.value) and math.isnan(report.precision_at_5.low)
    assert math.isnan(report.tau_top_5.value) and math.isnan(report.tau_top_10.value)
    truth = rng.normal(size=400)
    report = metrics.rank_report(truth + rng.normal(scale=0.3, size=400), truth, n_boot=200)
    for estimate in (report.precision_at_5, report.tau_top_5, report.tau_top_10):
        assert estimate.low <= estimate.value <= estimate.high and estimate.high - estimate.low > 0
    assert report.tau_top_10.value < report.kendall_tau.value  # inside the top set the ranking is harder


def test_an_all_failed_run_has_no_metrics():
    """Failed estimates rank last in position order; with nothing but failures that order must not pass as a score."""
    truth = np.arange(40.0)
    report = metrics.rank_report(np.full(40, np.nan), truth, n_boot=20)
    assert report.n == 40 and report.n_failed == 40
    assert math.isnan(report.regret) and math.isnan(report.precision_at_5.value) and math.isnan(report.pearson)
    assert math.isnan(report.kendall_tau.value) and math.isnan(report.spearman.low)
    one = metrics.rank_report(np.r_[np.nan * np.ones(39), 1.0], truth, n_boot=20)
    assert one.n_failed == 39 and one.regret == 0.0  # the one real score sits on the best arch


@pytest.mark.parametrize("n", [3, 10, 200, metrics.PAIRWISE_MAX, metrics.PAIRWISE_MAX + 1])
def test_rank_correlations_match_scipy_with_ties(n):
    rng = np.random.default_rng(n)
    scores = rng.integers(0, max(2, n // 4), n).astype(float)
    truth = scores + rng.normal(size=n) * 2
    truth[: n // 3] = np.round(truth[: n // 3])
    assert metrics.kendall_tau(scores, truth) == pytest.approx(stats.kendalltau(scores, truth).statistic, abs=1e-12)
    assert metrics.spearman(scores, truth) == pytest.approx(stats.spearmanr(scores, truth).statistic, abs=1e-12)
    assert metrics.pearson(scores, truth) == pytest.approx(stats.pearsonr(scores, truth).statistic, abs=1e-12)


def test_bootstrap_of_tau_equals_tau_of_each_resample():
    rng = np.random.default_rng(3)
    scores, truth = rng.integers(0, 8, 60).astype(float), rng.normal(size=60)
    resamples = rng.integers(0, 60, size=(200, 60))
    fast = metrics._resampled_tau_b(scores, truth, resamples)
    slow = [metrics.kendall_tau(scores[i], truth[i]) for i in resamples]
    np.testing.assert_allclose(fast, slow, atol=1e-12)
    constant = metrics._resampled_tau_b(np.ones(5), np.arange(5.0), rng.integers(0, 5, size=(3, 5)))
    assert np.isnan(constant).all()


def test_paired_tau_difference_is_tighter_than_two_independent_intervals():
    rng = np.random.default_rng(3)
    truth = rng.normal(size=120)
    shared = truth + rng.normal(scale=1.5, size=120)  # both estimators share most of their error
    better, worse = shared + 0.3 * truth, shared + rng.normal(scale=0.3, size=120)
    diff = metrics.paired_tau_difference(better, worse, truth)
    assert diff.value == pytest.approx(metrics.kendall_tau(better, truth) - metrics.kendall_tau(worse, truth))
    assert diff.low <= diff.value <= diff.high
    separate = [metrics.bootstrap_ci(metrics.kendall_tau, s, truth) for s in (better, worse)]
    assert diff.high - diff.low < min(high - low for low, high in separate)
    same = metrics.paired_tau_difference(better, better, truth)
    assert same.value == same.low == same.high == 0


def test_paired_tau_difference_uses_archs_scored_by_both():
    truth = np.arange(10.0)
    a, b = truth.copy(), truth.copy()
    a[0], b[9] = np.nan, np.inf
    assert metrics.paired_tau_difference(a, b, truth).value == 0
    with pytest.raises(ValueError, match="equal length"):
        metrics.paired_tau_difference(a, b[:5], truth)


def test_welch_interval_of_the_difference():
    result = metrics.welch(10.0, 2.0, 30, 9.0, 1.0, 40)
    se = math.sqrt(4 / 30 + 1 / 40)
    half = stats.t.ppf(0.975, result["df"]) * se
    assert (result["low"], result["high"]) == pytest.approx((1 - half, 1 + half))
    assert (result["low"] > 0) == (result["p"] < 0.05)
