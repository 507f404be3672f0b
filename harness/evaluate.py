"""Score an estimator against ground truth: which archs, which target, and the rank report."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from estimators.base import Estimation, Estimator
from harness import metrics, space
from harness.dataset_info import default_split
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

    def __str__(self) -> str:
        return f"{self.split}:{self.metric}:{self.hp}:{self.seeds}"


def _int(text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError as err:
        raise ValueError(f"{what} must be an integer, got {text!r}") from err


def select_archs(spec: str | int, gt: GroundTruth, seed: int = 0) -> np.ndarray:
    """'all', 'unique' (one per isomorphism class), 'N' (seeded sample of N unique archs) or 'i,j,k'."""
    spec = str(spec).strip()
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

    @property
    def cost_per_arch(self) -> float:
        return float(np.nanmean(self.estimation.costs)) if len(self.estimation.costs) else 0.0

    def to_dict(self) -> dict:
        report = self.report.to_dict()
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
            "cost_per_arch_seconds": self.cost_per_arch,
            "total_cost_seconds": float(np.nansum(self.estimation.costs)),
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
    truth = target.values(gt, dataset)[archs]
    start = time.perf_counter()
    estimation = estimator.estimate(np.asarray(archs), dataset, seed)
    wall = time.perf_counter() - start
    report = metrics.rank_report(estimation.scores, truth, n_boot=n_boot, seed=seed)
    return Evaluation(estimator.name, estimator.config, dataset, str(target), seed, estimation, truth, report, wall)
