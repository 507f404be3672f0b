"""Budgeted performance estimation (BPE): score each arch by really training it under a cheap setting.

A BPE (Zheng et al., CVPR 2020, "Rethinking Performance Estimation in Neural Architecture Search") is a training
setting: epochs, batch size, learning rate and its schedule, network width and depth, image size, data fraction,
cutout, precision and the eval images scored: one `harness.train.BPE`, NB201's full protocol by default;
`harness.train.PRESETS` name the paper's BPEs mapped onto NB201 and a few CPU-sized ones. The estimator `bpe` trains
every arch under the BPE
(one work unit per arch, run by `harness.executor`), stores each result as it arrives (`harness.store`, so a rerun
resumes) and scores by the final accuracy on the eval split, evaluated once after the last epoch (`curve=True` also
evaluates after every epoch, at its own cost). Costs are the measured seconds (training plus evaluation) on the
device each unit ran on (`harness.train.device_label`), with training and evaluation multiply-adds counted apart.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np

from estimators import register
from harness import store as results_store
from harness.data import DatasetSplits, load, synthetic
from harness.data import require as require_images
from harness.datasets import EVAL_SPLITS, NUM_CLASSES, check_dataset, eval_splits
from harness.estimation import Estimation, Execution
from harness.executor import Executor
from harness.groundtruth import GroundTruth
from harness.paths import SYNTHETIC_ROOT
from harness.store import Result
from harness.stored import stored_estimation
from harness.train import BPE, check_run, check_setup, device_label, train


@dataclass(frozen=True)
class WorkUnit:
    """Train one arch under one BPE: a pure function of these fields (run by `run_unit`)."""

    config: BPE
    dataset: str
    arch: int
    arch_str: str
    seed: int
    eval_split: str = "x-valid"
    data_root: str | None = None
    curve: bool = False
    """Evaluate after every epoch (the curve) rather than only after the last."""
    device: str = "auto"


def run_unit(unit: WorkUnit) -> Result:
    """Train `unit.arch_str` and return its stored form: seconds and multiply-adds, training and evaluation apart."""
    splits = load_splits(unit.dataset, unit.data_root)
    outcome = train(
        unit.arch_str,
        unit.config,
        splits,
        unit.eval_split,
        seed=unit.seed,
        device=unit.device,
        record_curve=unit.curve,
    )
    return Result(
        arch=unit.arch,
        seed=unit.seed,
        score=outcome.score,
        curve=outcome.curve,
        wall_seconds=outcome.train_seconds + outcome.eval_seconds,
        macs=outcome.macs,
        failed=outcome.failed,
        reason=outcome.reason,
        eval_seconds=outcome.eval_seconds,
        eval_macs=outcome.eval_macs,
        device=device_label(unit.device),
    )


def preflight(unit: WorkUnit) -> None:
    """Raise, once and before any training, what every unit like `unit` would hit: settings, seed, device, data."""
    check_setup(unit.config, load_splits(unit.dataset, unit.data_root), unit.eval_split, unit.seed, unit.device)


@functools.lru_cache(maxsize=2)
def load_splits(dataset: str, data_root: str | None) -> DatasetSplits:
    """The dataset, loaded once per process (workers keep it between units)."""
    if data_root == SYNTHETIC_ROOT:
        return synthetic(num_classes=NUM_CLASSES[dataset])
    return load(dataset, data_root, progress=False)


def estimator_config(bpe: BPE, eval_split: str = "x-valid", data_root: str | None = None) -> dict:
    """What changes a BPE's scores: the config, the eval split and synthetic data (not where or how fast it runs)."""
    synthetic_data = {"data": "synthetic"} if data_root == SYNTHETIC_ROOT else {}
    return bpe.to_dict() | {"eval_split": eval_split} | synthetic_data


def store_key(bpe: BPE, eval_split: str = "x-valid", data_root: str | None = None, name: str = "bpe") -> str:
    """The results store's config key of estimator `name` running `bpe` scored on `eval_split` with `data_root`."""
    return results_store.config_key({"estimator": name, "config": estimator_config(bpe, eval_split, data_root)})


@dataclass(frozen=True)
class BPEEstimator:
    """Trains each arch under `bpe`; scores = final accuracy (%) on `eval_split`; costs = measured seconds."""

    gt: GroundTruth
    bpe: BPE
    execution: Execution = field(default_factory=Execution)
    eval_split: str = "x-valid"
    curve: bool = False
    """Also evaluate after every epoch (stores the curve; its evaluation cost is counted in eval seconds and MACs)."""
    name: str = "bpe"

    def __post_init__(self) -> None:
        if self.eval_split not in EVAL_SPLITS:
            raise ValueError(f"eval_split must be one of {EVAL_SPLITS}, got {self.eval_split!r}")

    @property
    def executor(self) -> Executor:
        return self.execution.executor(workers=_default_workers(self.execution.workers))

    @property
    def data_root(self) -> str:
        return self.execution.root

    @property
    def config(self) -> dict:
        """What changes the scores: the BPE, the eval split and synthetic data (not where or how fast it runs)."""
        return estimator_config(self.bpe, self.eval_split, self.data_root)

    @property
    def key(self) -> str:
        """The store's config key: hash of {"estimator": "bpe", "config": config}."""
        return store_key(self.bpe, self.eval_split, self.data_root, self.name)

    @property
    def record(self) -> dict:
        return {"estimator": self.name, "config": self.config}

    def check(self, dataset: str) -> None:
        """Refuse, naming the fix, when no images of `dataset` are reachable."""
        if not self.execution.synthetic:
            require_images(dataset, self.data_root)

    def estimate(self, archs: np.ndarray, dataset: str, seed: int = 0) -> Estimation:
        """Scores and costs of `archs`, training only those the store lacks."""
        check_dataset(dataset)
        if self.eval_split not in eval_splits(dataset):
            raise ValueError(
                f"{dataset} has no {self.eval_split} split; score on one of {', '.join(eval_splits(dataset))} "
                "(eval_split=...)"
            )
        archs = np.asarray(archs, dtype=np.int64)
        strings = self.gt.arch_strings
        executor = self.executor
        check_run(self.bpe, seed)
        with results_store.writer(self.execution.store) as store:
            store.add_config(self.key, self.record)
            todo = [a for a in dict.fromkeys(archs.tolist()) if not store.has(self.key, dataset, a, seed)]
            units = [
                WorkUnit(self.bpe, dataset, a, strings[a], seed, self.eval_split, self.data_root, self.curve)
                for a in todo
            ]
            if units and executor.scheduler is None:  # on a cluster the data root is the workers' to check
                preflight(units[0])
            for outcome in executor.run(run_unit, units, desc=f"bpe {self.bpe.describe()} on {dataset}"):
                if outcome.ok:
                    store.put(self.key, dataset, outcome.value)
                else:  # a unit that raised (not a failed training) would fail the same way for the rest: stop
                    raise ValueError(
                        f"bpe {self.bpe.describe()} on {dataset}: training arch {units[outcome.index].arch} raised "
                        f"{outcome.error}; stopped (the results stored so far are kept, a rerun resumes)"
                    )
            stored = {a: store.get(self.key, dataset, a, seed) for a in dict.fromkeys(archs.tolist())}
            present = [r for r in stored.values() if r is not None]
            failed_runs = [{"arch": a, "reason": r.reason} for a, r in stored.items() if r is not None and r.failed]
            metadata = {
                "bpe": self.bpe.to_dict(),
                "bpe_hash": self.bpe.config_hash(),
                "eval_split": self.eval_split,
                "store": str(store.path),
                "store_key": self.key,
                "computed": len(todo),
                "reused": len(stored) - len(todo),
                "executor": executor.describe(),
                "total_macs": float(sum(r.macs + r.eval_macs for r in present)),
                "total_eval_macs": float(sum(r.eval_macs for r in present)),
                "total_eval_seconds": float(sum(r.eval_seconds for r in present)),
                "curve": self.curve,
                "failures": failed_runs,
            }
            # seconds on the device each unit recorded (device_label where it ran, a Dask worker included)
            return stored_estimation(store, self.key, dataset, archs, seed, metadata)


def _default_workers(workers: int | None) -> int | None:
    """None: one process per core on CPU; on a CUDA machine one inline worker owns the GPU."""
    if workers is not None:
        return workers
    import torch

    return 1 if torch.cuda.is_available() else None


@register("bpe", family="bpe", live=True, options=BPE)
def bpe(
    gt: GroundTruth,
    config: BPE | None = None,
    preset: str | None = None,
    execution: Execution | None = None,
    eval_split: str = "x-valid",
    curve: bool = False,
) -> BPEEstimator:
    """Train each arch under a budgeted setting (BPE; default: full NB201 protocol), score = final accuracy."""
    if preset is not None:
        if config is not None:
            raise ValueError("give either a BPE config or a preset name, not both")
        config = BPE.from_preset(preset)
    return BPEEstimator(gt, config or BPE(), execution or Execution(), eval_split, curve)
