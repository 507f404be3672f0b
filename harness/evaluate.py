"""Score an estimator against ground truth: which archs, which target, and the rank report."""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field

import numpy as np

from harness import metrics, space
from harness.checks import require_int
from harness.datasets import default_split
from harness.estimation import Estimation, Estimator, Reads, check_ready
from harness.groundtruth import GroundTruth, schema


@dataclass(frozen=True)
class Target:
    """The ground truth to rank against: split, metric, schedule and seeds ('mean' or one seed)."""

    split: str
    metric: str = "acc"
    hp: int = 200
    seeds: str | int = "mean"

    def __post_init__(self) -> None:
        schema.check_split(self.split)
        schema.check_metric(self.metric)
        schema.check_hp(self.hp)
        if self.seeds != "mean" and not isinstance(self.seeds, int):
            raise ValueError(f"target seeds must be 'mean' or a seed number, got {self.seeds!r}")

    @classmethod
    def parse(cls, text: str | None, dataset: str) -> Target:
        """'SPLIT[:METRIC[:HP[:SEED]]]', e.g. 'x-valid:acc:200:888'; None = mean 200-epoch accuracy."""
        if not text:
            return cls(default_split(dataset))
        parts = text.split(":")
        if len(parts) > 4:
            raise ValueError(f"target {text!r} must look like SPLIT[:METRIC[:HP[:SEED]]]")
        split, metric, hp, seeds = (parts + ["acc", "200", "mean"][len(parts) - 1 :])[:4]
        if not hp.isdigit():
            raise ValueError(f"target {text!r}: HP must be a number of epochs, got {hp!r}")
        return cls(split, metric, int(hp), "mean" if seeds == "mean" else _int(seeds, "target seed"))

    def values(self, gt: GroundTruth, dataset: str) -> np.ndarray:
        return gt.metric(dataset, self.split, self.metric, hp=self.hp, seeds=self.seeds)

    def overlaps(self, reads: Reads | None) -> bool:
        """True when an estimation that read `reads` read values of this target."""
        return reads is not None and (reads.split, reads.metric, reads.hp) == (self.split, self.metric, self.hp)

    def truth(self, gt: GroundTruth, dataset: str, archs: np.ndarray, reads: Reads | None = None) -> np.ndarray:
        """Target values of `archs`; where the estimation read one of the target's seeds, the other seeds only.

        Against a seed mean, an arch's truth is the mean of the seeds it was not scored with (NaN, so dropped and
        counted, when it has no other seed); against one seed, NaN where the estimation read that very seed.
        """
        archs = np.asarray(archs, dtype=np.int64)
        if not self.overlaps(reads):
            return self.values(gt, dataset)[archs]
        assert reads is not None
        if self.seeds != "mean":
            return np.where(reads.seeds == self.seeds, np.nan, self.values(gt, dataset)[archs])
        values = gt.metric(dataset, self.split, self.metric, hp=self.hp, seeds="all")[archs]
        seeds = np.asarray(gt.seeds(dataset, self.split, self.metric, hp=self.hp))
        # a stored seed mean contains every seed, the one read included
        held_out = (seeds[None, :] != reads.seeds[:, None]) & (seeds[None, :] != schema.MEAN_SEED)
        kept = np.where(held_out, values, np.nan)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # an arch with no other seed: NaN
            return np.nanmean(kept, axis=1)

    def describe(self, reads: Reads | None = None) -> str:
        """The target's name, marked ':held-out' when the estimation's own seeds are left out of it."""
        return f"{self}:held-out" if self.overlaps(reads) else str(self)

    def __str__(self) -> str:
        return f"{self.split}:{self.metric}:{self.hp}:{self.seeds}"


def _int(text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError as err:
        raise ValueError(f"{what} must be an integer, got {text!r}") from err


def select_archs(spec: str | int, gt: GroundTruth, seed: int = 0) -> np.ndarray:
    """'all', 'unique' (one per isomorphism class), 'N' (seeded sample of N unique archs) or 'i,j,k'."""
    require_int("select_archs", "seed", seed, minimum=0)
    try:
        return _select_archs(str(spec).strip(), gt, seed)
    except ValueError as err:
        raise ValueError(f"archs {str(spec).strip()!r}: {err}") from None


def _select_archs(spec: str, gt: GroundTruth, seed: int) -> np.ndarray:
    if spec == "all":
        return np.arange(gt.num_archs)
    if spec == "unique":
        return space.unique_representatives(gt.arch_strings)
    if spec.isdigit():
        return space.sample_indices(int(spec), seed, gt.arch_strings, unique=True)
    indices = np.array([_int(part, "arch index") for part in spec.split(",") if part.strip()], dtype=np.int64)
    if indices.size == 0 or indices.min() < 0 or indices.max() >= gt.num_archs or len(set(indices)) != len(indices):
        raise ValueError(
            f"archs must be 'all', 'unique', a sample size, or distinct indices in 0..{gt.num_archs - 1}; got {spec!r}"
        )
    return indices


@dataclass(frozen=True)
class Evaluation:
    """One estimator scored on one dataset and arch set."""

    estimator: str
    config: dict
    dataset: str
    target: str
    seed: int
    estimation: Estimation
    truth: np.ndarray
    report: metrics.RankReport
    wall_seconds: float
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        report = self.report.to_dict()
        estimation = self.estimation
        return {
            "estimator": self.estimator,
            "config": self.config,
            "dataset": self.dataset,
            "target": self.target,
            "seed": self.seed,
            "n": report["n"],
            "kendall_tau": report["kendall_tau"]["value"],
            "spearman": report["spearman"]["value"],
            "report": report,
            "cost": cost_summary(estimation),
            "wall_seconds": self.wall_seconds,
            "archs": self.estimation.archs.tolist(),
            "scores": [None if not np.isfinite(s) else float(s) for s in self.estimation.scores],
            "truth": [None if np.isnan(t) else float(t) for t in self.truth],
            "metadata": self.estimation.metadata,
        }


def evaluate(
    estimator: Estimator,
    gt: GroundTruth,
    dataset: str,
    archs: np.ndarray,
    seed: int = 0,
    target: Target | None = None,
    n_boot: int = 1000,
) -> Evaluation:
    """Run `estimator` on `archs` and rank its scores against `target`."""
    target = target or Target(default_split(dataset))
    check_ready(estimator, dataset)
    start = time.perf_counter()
    estimation = estimator.estimate(np.asarray(archs), dataset, seed)
    wall = time.perf_counter() - start
    truth = target.truth(gt, dataset, archs, estimation.reads)
    report = metrics.rank_report(estimation.scores, truth, n_boot=n_boot, seed=seed)
    return Evaluation(
        estimator.name, estimator.config, dataset, target.describe(estimation.reads), seed, estimation, truth, report,
        wall,
    )


def cost_summary(estimation: Estimation) -> dict:
    """Per-arch mean and total cost in each unit: seconds on the named device, training and evaluation MACs."""

    def mean(values: np.ndarray) -> float:
        return float(np.nanmean(values)) if len(values) and not np.all(np.isnan(values)) else float("nan")

    return {
        "device": estimation.device,
        "seconds_per_arch": mean(estimation.costs),
        "seconds_total": float(np.nansum(estimation.costs)),
        "train_macs_per_arch": mean(estimation.train_macs),
        "eval_macs_per_arch": mean(estimation.eval_macs),
        "macs_total": float(np.nansum(estimation.macs)),
    }


def seed_vs_seed(
    gt: GroundTruth, dataset: str, archs: np.ndarray, target: Target, n_boot: int = 1000
) -> tuple[metrics.RankReport, tuple[int, int]] | None:
    """Rank agreement of two independent full trainings: the target's first two seeds on the archs that have both.

    The noise ceiling in its plainest form: no estimator can be expected to agree with one training run better than
    another run of the same training does. Returns (RankReport, (seed a, seed b)), or None with fewer than two seeds.
    """
    seeds = [s for s in gt.seeds(dataset, target.split, target.metric, hp=target.hp) if s != schema.MEAN_SEED]
    if len(seeds) < 2:
        return None
    a, b = (gt.metric(dataset, target.split, target.metric, hp=target.hp, seeds=s)[archs] for s in seeds[:2])
    both = np.isfinite(a) & np.isfinite(b)
    return metrics.rank_report(a[both], b[both], n_boot=n_boot), (seeds[0], seeds[1])
