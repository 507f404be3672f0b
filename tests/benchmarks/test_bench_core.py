"""pytest-benchmark timings of the hot paths (run by `tox -e benchmark`, compared with the committed baseline)."""

import numpy as np
import pytest

from harness import metrics, space
from harness.groundtruth import GroundTruth


@pytest.fixture(scope="module")
def random_scores():
    rng = np.random.default_rng(0)
    truth = rng.normal(size=15625)
    return truth + rng.normal(size=15625), truth


def test_open_and_read_all_archs(benchmark, embedded_gt_path):
    def run():
        with GroundTruth.open(embedded_gt_path, build=False) as gt:
            return gt.metric("cifar10-valid", "x-valid", "acc")

    values = benchmark(run)
    assert values.shape == (15625,)


def test_kendall_tau_all_archs(benchmark, random_scores):
    tau = benchmark(metrics.kendall_tau, *random_scores)
    assert 0.4 < tau < 0.6


def test_rank_report_100_archs(benchmark, random_scores):
    scores, truth = random_scores
    report = benchmark(metrics.rank_report, scores[:100], truth[:100], 200)
    assert report.n == 100


def test_isomorphism_keys_all_archs(benchmark, gt):
    def run():
        space.isomorphism_key.cache_clear()
        return len({space.isomorphism_key(a) for a in gt.arch_strings})

    assert benchmark(run) == 6466
