"""Estimators that read the ground-truth file itself: cheaper schedules, single seeds, model size."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from estimators import register
from harness import counts, paths
from harness.checks import Unavailable
from harness.datasets import NUM_CLASSES, RESOLUTION, SELECTION_IMAGES, TRAIN_IMAGES, default_split
from harness.estimation import NB201_GPU, Estimation, Reads, free
from harness.groundtruth import GroundTruth, schema

PASSES_PER_IMAGE = 3
"""Training multiply-adds per image in forward-pass equivalents: one forward plus a backward costing about two."""


@dataclass(frozen=True)
class Trials:
    """Every recorded trial of a schedule: values (archs, seeds), NaN where a seed is missing, and per-arch costs."""

    values: np.ndarray
    seeds: tuple[int, ...]
    seconds: np.ndarray
    train_macs: np.ndarray
    eval_macs: np.ndarray
    device: str = NB201_GPU


@dataclass(frozen=True)
class ScheduleEstimator:
    """Final accuracy of a recorded training schedule; cost = its recorded training plus one validation pass.

    `one_seed`: one trial per arch, drawn (reproducibly from the estimate's seed) among the seeds that arch has; else
    the seed mean. Costs are NB201's GPU seconds (`NB201_GPU`) and NB201-protocol multiply-adds; an arch without a
    recorded value scores NaN and costs nothing.
    """

    gt: GroundTruth
    name: str
    hp: int
    one_seed: bool

    @property
    def config(self) -> dict:
        return {"hp": self.hp, "one_seed": self.one_seed, "groundtruth": self.gt.fingerprint(self._paths_read())}

    def _paths_read(self) -> list[str]:
        values = [f"{schema.group_path(d, self.hp, default_split(d))}/acc" for d in schema.DATASETS]
        hps = (200, self.hp)
        costs = [f"{schema.group_path(d, hp, schema.COST_GROUP)}/train_time" for d in schema.DATASETS for hp in hps]
        return values + costs

    def check(self, dataset: str) -> None:
        """Refuse, naming the fix, when the file lacks this schedule's table for `dataset`."""
        if not self.gt.has(dataset, default_split(dataset), "acc", hp=self.hp):
            default = self.gt.path.resolve() == paths.groundtruth_path().resolve()
            where = "" if default else f" --out {self.gt.path}"
            raise Unavailable(
                f"{self.gt.path} has no {self.hp}-epoch (hp={self.hp}) accuracy table for {dataset}",
                f"`bpebench data build{where}` (it merges the packaged 12-epoch table and keeps earlier merges)"
                if self.hp == 12
                else f"`bpebench data add-csv FILE --hp {self.hp} --column ...`",
            )

    def trials(self, dataset: str) -> Trials:
        """All recorded trials of every arch, with the cost of one."""
        split = default_split(dataset)
        values = self.gt.metric(dataset, split, "acc", hp=self.hp, seeds="all")
        seeds = self.gt.seeds(dataset, split, "acc", hp=self.hp)
        if not self.one_seed:
            values, seeds = self.gt.metric(dataset, split, "acc", hp=self.hp)[:, None], (schema.MEAN_SEED,)
        elif schema.MEAN_SEED in seeds:  # a stored mean is not a trial
            keep = [i for i, s in enumerate(seeds) if s != schema.MEAN_SEED]
            values, seeds = values[:, keep], tuple(seeds[i] for i in keep)
        seconds, train_macs, eval_macs = nb201_costs(self.gt, dataset, self.hp)
        return Trials(values, tuple(seeds), seconds, train_macs, eval_macs)

    def estimate(self, archs: np.ndarray, dataset: str, seed: int = 0) -> Estimation:
        archs = np.asarray(archs, dtype=np.int64)
        trials = self.trials(dataset)
        column = choose_trials(trials.values, seed) if self.one_seed else np.zeros(len(trials.values), np.int64)
        has_value = column >= 0
        scores = np.where(has_value, trials.values[np.arange(len(column)), np.maximum(column, 0)], np.nan)[archs]
        if np.isnan(scores[has_value[archs]]).any():
            raise ValueError(f"{self.name} read NaN for an arch that has ground truth on {dataset}")
        paid = has_value[archs]
        metadata: dict = {"hp": self.hp, "split": default_split(dataset), "unpaid_without_value": int((~paid).sum())}
        reads = None
        if self.one_seed:
            read = np.where(has_value, np.asarray(trials.seeds)[np.maximum(column, 0)], -1)[archs]
            reads = Reads(default_split(dataset), "acc", self.hp, read)
            metadata["seeds_read"] = {str(s): int((read == s).sum()) for s in trials.seeds}
        return Estimation(
            archs,
            scores,
            np.where(paid, trials.seconds[archs], 0.0),
            NB201_GPU,
            np.where(paid, trials.train_macs[archs], 0.0),
            np.where(paid, trials.eval_macs[archs], 0.0),
            metadata,
            reads,
        )


def choose_trials(values: np.ndarray, seed: int) -> np.ndarray:
    """Per arch, the column of one trial drawn uniformly among its non-NaN ones (-1 where it has none).

    Each arch's draw depends only on `seed` and its index, not on which other archs are asked for.
    """
    available = ~np.isnan(values)
    count = available.sum(axis=1)
    pick = np.floor(np.random.default_rng(seed).random(len(values)) * np.maximum(count, 1)).astype(np.int64)
    first_available = np.argsort(~available, axis=1, kind="stable")
    return np.where(count > 0, first_available[np.arange(len(values)), pick], -1)


def nb201_costs(gt: GroundTruth, dataset: str, hp: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per arch: NB201 GPU seconds (training plus one validation pass), training and validation multiply-adds.

    NB201 charges a query its training time plus one validation pass. Training seconds are recorded; the
    validation pass is modelled as a forward over the selection split at a third of a training epoch's per-image
    time (forward only), since the embedded data does not record it: the NATS-Bench records of archs 0, 11 and 284
    give 2.55, 4.15 and 2.39 s where the model gives 2.41, 4.15 and 1.63 s.
    """
    train_seconds = _train_seconds(gt, dataset, hp)
    share = SELECTION_IMAGES[dataset] / TRAIN_IMAGES[dataset]
    valid_seconds = train_seconds / hp * share / PASSES_PER_IMAGE
    forward = _forward_macs(tuple(gt.arch_strings), dataset)
    train_macs = forward * TRAIN_IMAGES[dataset] * hp * PASSES_PER_IMAGE
    return train_seconds + valid_seconds, train_macs, forward * SELECTION_IMAGES[dataset]


@functools.lru_cache(maxsize=8)
def _forward_macs(arch_strings: tuple[str, ...], dataset: str) -> np.ndarray:
    """Multiply-adds of one forward pass of each arch at NB201 size on `dataset`."""
    size = {"num_classes": NUM_CLASSES[dataset], "resolution": RESOLUTION[dataset]}
    return np.array([counts.flops(a, **size) for a in arch_strings]) * 1e6


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
        return {} if self.name == "flops" else {"groundtruth": self.gt.fingerprint(self._paths_read())}

    def _paths_read(self) -> list[str]:
        return [f"{schema.group_path(d, 200, schema.COST_GROUP)}/{self.name}" for d in schema.DATASETS]

    def estimate(self, archs: np.ndarray, dataset: str, seed: int = 0) -> Estimation:
        archs = np.asarray(archs, dtype=np.int64)
        if self.name == "flops":
            scores = _forward_macs(tuple(self.gt.arch_strings), dataset)[archs] / 1e6
        else:
            scores = self.gt.cost(dataset, self.name)[archs]
        return free(archs, scores, {"source": self.name})


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
