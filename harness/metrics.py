"""Rank agreement between estimated scores and ground truth, with bootstrap confidence intervals.

Policies, applied by `prepare` before every metric:
- archs whose ground truth is NaN are dropped (and counted): there is nothing to compare against;
- NaN or infinite scores (failed estimates) rank below every real score, tied with each other, and are counted;
- ties: Kendall tau is tau-b (tie-corrected), Spearman uses average ranks, top-k sets break ties by arch order;
- top-k metrics need at least `MIN_TOP_K` archs in the top set: below that they are NaN (printed n/a), since a
  precision or a tau over two archs says nothing.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

from harness.checks import require_number
from harness.lazy import lazy

stats = lazy("scipy.stats")

Metric = Callable[[np.ndarray, np.ndarray], float]
MIN_TOP_K = 10
"""Fewest archs in a top set for a top-k metric to be reported."""


@dataclass(frozen=True)
class Prepared:
    scores: np.ndarray
    truth: np.ndarray
    n_failed: int
    n_missing_truth: int


def prepare(scores: np.ndarray, truth: np.ndarray) -> Prepared:
    """Apply the NaN policies; returns finite scores and truth of equal length."""
    scores = np.asarray(scores, dtype=np.float64)
    truth = np.asarray(truth, dtype=np.float64)
    if scores.shape != truth.shape or scores.ndim != 1:
        raise ValueError(f"scores and truth must be 1-d arrays of equal length, got {scores.shape} and {truth.shape}")
    known = ~np.isnan(truth)
    scores, truth = scores[known], truth[known]
    failed = ~np.isfinite(scores)
    if failed.any():
        floor = np.min(scores[~failed]) - 1.0 if (~failed).any() else 0.0
        scores = np.where(failed, floor, scores)
    return Prepared(scores, truth, int(failed.sum()), int((~known).sum()))


PAIRWISE_MAX = 400
"""Up to this many archs, tau-b is counted over all pairs in numpy (exact, and ~20x faster than scipy's call for the
thousands of bootstrap resamples of a small sample); above it scipy's O(n log n) count is used."""


def kendall_tau(scores: np.ndarray, truth: np.ndarray) -> float:
    """Kendall tau-b."""
    return _nan_if_constant(scores, truth, _tau_b)


def _tau_b(a: np.ndarray, b: np.ndarray) -> float:
    if len(a) > PAIRWISE_MAX:
        return stats.kendalltau(a, b, variant="b").statistic
    sign_a, sign_b = np.sign(a[:, None] - a[None, :]), np.sign(b[:, None] - b[None, :])
    # each unordered pair counted twice: concordant minus discordant, and pairs untied in a and in b
    return float(np.sum(sign_a * sign_b) / math.sqrt(np.count_nonzero(sign_a) * np.count_nonzero(sign_b)))


def _resampled_tau_b(a: np.ndarray, b: np.ndarray, resamples: np.ndarray) -> np.ndarray:
    """tau-b of every resample (rows of indices into a, b) at once, exactly as `kendall_tau` of each would give.

    A resample that holds arch i w_i times has w_i * w_j copies of the pair (i, j), and copies of one arch are tied:
    each pair count of tau-b is w' P w over the pair matrix P of the original sample.
    """
    sign_a, sign_b = np.sign(a[:, None] - a[None, :]), np.sign(b[:, None] - b[None, :])
    n = len(a)
    offsets = (np.arange(len(resamples))[:, None] * n + resamples).ravel()
    weights = np.bincount(offsets, minlength=len(resamples) * n).reshape(len(resamples), n).astype(np.float64)

    def count(pairs: np.ndarray) -> np.ndarray:
        return np.sum((weights @ pairs) * weights, axis=1)

    untied = count(np.abs(sign_a)) * count(np.abs(sign_b))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(untied > 0, count(sign_a * sign_b) / np.sqrt(untied), np.nan)


def spearman(scores: np.ndarray, truth: np.ndarray) -> float:
    """Spearman's rho: Pearson correlation of average ranks (ties share their mean rank), as scipy computes it."""
    return _nan_if_constant(scores, truth, lambda a, b: float(np.corrcoef(_average_ranks(a), _average_ranks(b))[0, 1]))


def _average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks, tied values sharing the mean of their ranks (scipy's rankdata 'average')."""
    order = np.argsort(values, kind="mergesort")
    ordered = values[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    bounds = np.r_[starts, len(values)]
    group = np.cumsum(np.r_[True, ordered[1:] != ordered[:-1]]) - 1
    ranks = np.empty(len(values))
    ranks[order] = (bounds[group] + bounds[group + 1] + 1) / 2
    return ranks


def pearson(scores: np.ndarray, truth: np.ndarray) -> float:
    return _nan_if_constant(scores, truth, lambda a, b: float(np.corrcoef(a, b)[0, 1]))


def _nan_if_constant(scores: np.ndarray, truth: np.ndarray, fn: Callable) -> float:
    if len(scores) < 2 or np.ptp(scores) == 0 or np.ptp(truth) == 0:
        return float("nan")
    return float(fn(scores, truth))


def top_k(values: np.ndarray, percent: float) -> np.ndarray:
    """Positions of the top `percent` % by value (at least one); ties broken by position."""
    require_number("top_k", "percent", percent, 0, 100, low_open=True)
    k = max(1, round(len(values) * percent / 100))
    return np.argsort(-values, kind="stable")[:k]


def top_k_size(n: int, percent: float) -> int:
    return max(1, round(n * percent / 100))


def precision_at_top(scores: np.ndarray, truth: np.ndarray, percent: float = 5.0) -> float:
    """Fraction of the true top-k% that the scores also place in their top-k%; NaN below `MIN_TOP_K` archs."""
    if top_k_size(len(truth), percent) < MIN_TOP_K:
        return float("nan")
    predicted, actual = top_k(scores, percent), top_k(truth, percent)
    return len(np.intersect1d(predicted, actual)) / len(actual)


def tau_in_true_top(scores: np.ndarray, truth: np.ndarray, percent: float = 5.0) -> float:
    """Kendall tau-b restricted to the archs in the true top-k%; NaN below `MIN_TOP_K` archs."""
    if top_k_size(len(truth), percent) < MIN_TOP_K:
        return float("nan")
    best = top_k(truth, percent)
    return kendall_tau(scores[best], truth[best])


def regret(scores: np.ndarray, truth: np.ndarray) -> float:
    """True best value minus the true value of the arch the scores rank first."""
    return float(np.max(truth) - truth[int(np.argmax(scores))])


def bootstrap_ci(
    metric: Metric, scores: np.ndarray, truth: np.ndarray, n_boot: int = 1000, seed: int = 0, level: float = 0.95
) -> tuple[float, float]:
    """Percentile bootstrap interval of `metric` over archs resampled with replacement (NaN where `metric` is)."""
    if len(scores) < 3 or np.isnan(metric(scores, truth)):
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    resamples = rng.integers(0, len(scores), size=(n_boot, len(scores)))
    if metric is kendall_tau and len(scores) <= PAIRWISE_MAX:
        samples = _resampled_tau_b(scores, truth, resamples)
    else:
        samples = np.array([metric(scores[idx], truth[idx]) for idx in resamples])
    samples = samples[~np.isnan(samples)]
    if samples.size == 0:
        return float("nan"), float("nan")
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(samples, [tail, 100 - tail])
    return float(low), float(high)


@dataclass(frozen=True)
class Estimate:
    value: float
    low: float
    high: float


def paired_tau_difference(
    scores_a: np.ndarray,
    scores_b: np.ndarray,
    truth: np.ndarray,
    n_boot: int = 2000,
    seed: int = 0,
    level: float = 0.95,
) -> Estimate:
    """tau(a) - tau(b) on the same archs (those with truth and finite scores in both), percentile bootstrap interval
    from shared resamples: the pairing removes the arch-sample noise the two taus have in common."""
    scores_a, scores_b, truth = (np.asarray(x, dtype=np.float64) for x in (scores_a, scores_b, truth))
    if not scores_a.shape == scores_b.shape == truth.shape or truth.ndim != 1:
        raise ValueError(
            f"scores and truth must be 1-d arrays of equal length, got {scores_a.shape}, "
            f"{scores_b.shape} and {truth.shape}"
        )
    both = np.isfinite(scores_a) & np.isfinite(scores_b) & ~np.isnan(truth)
    a, b, t = scores_a[both], scores_b[both], truth[both]
    value = kendall_tau(a, t) - kendall_tau(b, t)
    if len(t) < 3 or np.isnan(value):
        return Estimate(value, math.nan, math.nan)
    resamples = np.random.default_rng(seed).integers(0, len(t), size=(n_boot, len(t)))
    if len(t) <= PAIRWISE_MAX:
        samples = _resampled_tau_b(a, t, resamples) - _resampled_tau_b(b, t, resamples)
    else:
        samples = np.array([kendall_tau(a[i], t[i]) - kendall_tau(b[i], t[i]) for i in resamples])
    samples = samples[~np.isnan(samples)]
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(samples, [tail, 100 - tail])
    return Estimate(float(value), float(low), float(high))


@dataclass(frozen=True)
class RankReport:
    """All rank metrics of one comparison, with sample sizes."""

    n: int
    n_failed: int
    n_missing_truth: int
    kendall_tau: Estimate
    spearman: Estimate
    pearson: float
    precision_at_5: Estimate
    tau_top_5: Estimate
    tau_top_10: Estimate
    """Kendall tau inside the true top 10%, the figure NB201 users ask about."""
    regret: float
    """True best minus the true value of the arch ranked first, in the target's unit (accuracy points)."""

    def to_dict(self) -> dict:
        return asdict(self)


def rank_report(scores: np.ndarray, truth: np.ndarray, n_boot: int = 1000, seed: int = 0) -> RankReport:
    """Every metric at once, confidence intervals from one bootstrap seed."""
    p = prepare(scores, truth)
    if len(p.scores) < 2:
        raise ValueError(f"need at least 2 archs with ground truth to rank, got {len(p.scores)}")
    if p.n_failed == len(p.scores):  # no scores, no metrics: position order would pass for a ranking
        nan = math.nan
        none = Estimate(nan, nan, nan)
        return RankReport(len(p.scores), p.n_failed, p.n_missing_truth, none, none, nan, none, none, none, nan)

    def with_ci(metric: Metric) -> Estimate:
        return Estimate(metric(p.scores, p.truth), *bootstrap_ci(metric, p.scores, p.truth, n_boot, seed))

    return RankReport(
        n=len(p.scores),
        n_failed=p.n_failed,
        n_missing_truth=p.n_missing_truth,
        kendall_tau=with_ci(kendall_tau),
        spearman=with_ci(spearman),
        pearson=pearson(p.scores, p.truth),
        precision_at_5=with_ci(precision_at_top),
        tau_top_5=with_ci(tau_in_true_top),
        tau_top_10=with_ci(functools.partial(tau_in_true_top, percent=10.0)),
        regret=regret(p.scores, p.truth),
    )


def welch(mean_a: float, std_a: float, n_a: int, mean_b: float, std_b: float, n_b: int) -> dict:
    """Welch's unequal-variance t-test of two means from their summaries (std with ddof 1): t, df, two-sided p, and
    the 95% interval (low, high) of mean_a - mean_b.

    `t` is also the z of the difference (mean_a - mean_b in standard errors); with hundreds of runs per side the two
    coincide.
    """
    if min(n_a, n_b) < 2:
        raise ValueError(f"Welch's t-test needs at least 2 values per side, got n = {n_a} and {n_b}")
    var_a, var_b = std_a**2 / n_a, std_b**2 / n_b
    se = math.sqrt(var_a + var_b)
    t = (mean_a - mean_b) / se
    df = (var_a + var_b) ** 2 / (var_a**2 / (n_a - 1) + var_b**2 / (n_b - 1))
    half = float(stats.t.ppf(0.975, df)) * se
    diff = mean_a - mean_b
    return {
        "t": float(t),
        "df": float(df),
        "p": float(2 * stats.t.sf(abs(t), df)),
        "n_a": n_a,
        "n_b": n_b,
        "low": float(diff - half),
        "high": float(diff + half),
    }
