"""Estimators that read the ground-truth file itself: cheaper schedules, single seeds, model size."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from estimators.base import Estimation
from estimators.registry import register
from harness.dataset_info import NUM_CLASSES, RESOLUTION, default_split
from harness.groundtruth import GroundTruth


@dataclass(frozen=True)
class ScheduleEstimator:
    """Final accuracy of a recorded training schedule; cost = its recorded training seconds."""

    gt: GroundTruth
    name: str
    hp: int
    one_seed: bool

    @property
    def config(self) -> dict:
        return {"hp": self.hp, "one_seed": self.one_seed}

    def estimate(self, archs: np.ndarray, dataset: str, seed: int = 0) -> Estimation:
        split = default_split(dataset)
        metadata = {"hp": self.hp, "split": split}
        if self.one_seed:
            stored = [s for s in self.gt.seeds(dataset, split, "acc", hp=self.hp) if s >= 0]
            chosen = seed if seed in stored else stored[seed % len(stored)]
            scores = self.gt.metric(dataset, split, "acc", hp=self.hp, seeds=chosen)
            metadata["seed"] = chosen
        else:
            scores = self.gt.metric(dataset, split, "acc", hp=self.hp)
        return Estimation(archs, scores[archs], _train_seconds(self.gt, dataset, self.hp)[archs], metadata)


def _train_seconds(gt: GroundTruth, dataset: str, hp: int) -> np.ndarray:
    """Recorded training seconds of the hp-epoch schedule; where absent, the 200-epoch time x hp/200."""
    prorated = gt.train_seconds(dataset, hp=200, epochs=hp)
    if not gt.has_cost(dataset, "train_time", hp=hp):
        return prorated
    return np.where(np.isnan(recorded := gt.cost(dataset, "train_time", hp=hp)), prorated, recorded)


@dataclass(frozen=True)
class SizeEstimator:
    """A free baseline: bigger networks score higher; cost 0."""

    gt: GroundTruth
    name: str

    @property
    def config(self) -> dict:
        return {}

    def estimate(self, archs: np.ndarray, dataset: str, seed: int = 0) -> Estimation:
        if self.name == "flops":
            from harness import network

            strings = self.gt.arch_strings
            scores = np.array(
                [
                    network.flops(strings[i], num_classes=NUM_CLASSES[dataset], resolution=RESOLUTION[dataset])
                    for i in archs
                ]
            )
        else:
            scores = self.gt.cost(dataset, self.name)[archs]
        return Estimation(archs, scores, np.zeros(len(archs)), {"source": self.name})


@register("tabular-hp12", family="tabular")
def tabular_hp12(gt: GroundTruth) -> ScheduleEstimator:
    """Final x-valid accuracy of NB201's separate 12-epoch schedule (merge its table with `data add-csv`)."""
    return ScheduleEstimator(gt, "tabular-hp12", hp=12, one_seed=False)


@register("tabular-hp200-seed", family="tabular")
def tabular_hp200_seed(gt: GroundTruth) -> ScheduleEstimator:
    """One seed of the full 200-epoch run: the noise ceiling of full training."""
    return ScheduleEstimator(gt, "tabular-hp200-seed", hp=200, one_seed=True)


@register("params", family="baseline")
def params(gt: GroundTruth) -> SizeEstimator:
    """Recorded parameter count (millions)."""
    return SizeEstimator(gt, "params")


@register("flops", family="baseline")
def flops(gt: GroundTruth) -> SizeEstimator:
    """Multiply-adds of the NB201 network at the dataset's resolution (millions)."""
    return SizeEstimator(gt, "flops")


@register("latency", family="baseline")
def latency(gt: GroundTruth) -> SizeEstimator:
    """Recorded inference latency (seconds)."""
    return SizeEstimator(gt, "latency")
