"""Budgeted performance estimation (BPE): score each arch by really training it under a cheap setting.

A BPE (Zheng et al., CVPR 2020, "Rethinking Performance Estimation in Neural Architecture Search") is a training
setting: epochs, batch size, learning rate and its schedule, network width and depth, image size, data fraction,
cutout, precision and the eval images scored. `BPEConfig` holds one, NB201's full protocol by default; `PRESETS` name
the paper's BPEs mapped onto NB201 and a few CPU-sized ones. The estimator `bpe` trains every arch under the config
(one work unit per arch, run by `harness.executor`), stores each result as it arrives (`harness.store`, so a rerun
resumes) and scores by the final accuracy on the eval split, evaluated once after the last epoch (`curve=True` also
evaluates after every epoch, at its own cost). Costs are the measured seconds (training plus evaluation) on the
device each unit ran on (`harness.train.device_label`), with training and evaluation multiply-adds counted apart.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import asdict, dataclass, field, fields, replace

import numpy as np

from estimators import register
from harness import store as results_store
from harness.data import DatasetSplits, load, synthetic
from harness.datasets import NUM_CLASSES
from harness.estimation import Estimation, Execution
from harness.executor import Executor
from harness.groundtruth import GroundTruth
from harness.paths import SYNTHETIC_ROOT
from harness.store import Result
from harness.stored import stored_estimation
from harness.train import PRECISIONS, TrainConfig, device_label, train

EVAL_SPLITS = ("x-valid", "x-test", "ori-test")
SPLITS_OF = {
    "cifar10-valid": ("x-valid", "ori-test"),
    "cifar10": ("ori-test",),
    "cifar100": EVAL_SPLITS,
    "ImageNet16-120": EVAL_SPLITS,
}
"""Eval splits each NB201 dataset has (as `harness.data.load` builds them)."""


@dataclass(frozen=True)
class BPEConfig:
    """One budgeted training setting; the defaults are NB201's full protocol (Dong & Yang, ICLR 2020)."""

    epochs: int = 200
    batch_size: int = 256
    lr: float = 0.1
    """Initial learning rate (cosine-annealed to 0; SGD, Nesterov momentum 0.9, weight decay 5e-4)."""
    lr_schedule: str = "epoch"
    """One of `harness.train.LR_SCHEDULES`: the cosine steps once per epoch (NB201) or every iteration ('step')."""
    channels: int = 16
    """Base width C (stages at C, 2C, 4C)."""
    cells: int = 5
    """Cells per stage N."""
    resolution: int = 32
    """Image size in px (a multiple of 4, at least 8)."""
    fraction: float = 1.0
    """Share of the train split, class-balanced, drawn with the run's seed."""
    cutout: int = 0
    """Cutout square side in px (0 = off)."""
    eval_images: int = 0
    """Eval-split images scored (0 = all): a class-balanced subset, fixed seed: the same for every arch and run seed."""
    precision: str = "fp32"
    """One of `harness.train.PRECISIONS`: fp32, bf16 (autocast), fp16 (autocast, CUDA only)."""

    def __post_init__(self) -> None:
        for name in ("lr", "fraction"):
            value = getattr(self, name)
            if isinstance(value, int) and not isinstance(value, bool):
                object.__setattr__(self, name, float(value))  # 1 and 1.0 are one config, with one hash
        if self.precision not in PRECISIONS:
            raise ValueError(f"BPEConfig.precision = {self.precision!r} is invalid: must be one of {PRECISIONS}")
        try:
            self.to_train_config(seed=0)
        except ValueError as err:  # TrainConfig names the field, the value and what is allowed
            raise ValueError(str(err).replace("TrainConfig.", "BPEConfig.", 1)) from None

    def to_dict(self) -> dict:
        return asdict(self)

    def config_hash(self) -> str:
        """sha256 (16 hex digits) of the canonical JSON of every field; each one changes the scores."""
        canonical = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]

    def to_train_config(self, seed: int, device: str = "auto") -> TrainConfig:
        return TrainConfig(**self.to_dict(), seed=seed, device=device)

    def describe(self) -> str:
        """Compact one-line form, e.g. 'e10 b128 lr0.03 C8 N2 16px f1 co0 fp32' (plus 'lr-step', 'ev5000' if set)."""
        text = (
            f"e{self.epochs} b{self.batch_size} lr{self.lr:g} C{self.channels} N{self.cells} {self.resolution}px "
            f"f{self.fraction:g} co{self.cutout} {self.precision}"
        )
        if self.lr_schedule != "epoch":
            text += f" lr-{self.lr_schedule}"
        return text + (f" ev{self.eval_images}" if self.eval_images else "")

    @classmethod
    def from_preset(cls, name: str, **overrides: object) -> BPEConfig:
        """Preset `name` with some fields replaced."""
        if name not in PRESETS:
            raise ValueError(f"unknown BPE preset {name!r}; available: {', '.join(PRESETS)}")
        unknown = set(overrides) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown BPEConfig field(s) {sorted(unknown)}; fields: {[f.name for f in fields(cls)]}")
        return replace(PRESETS[name], **overrides)


PRESETS: dict[str, BPEConfig] = {
    "nb201": BPEConfig(),
    "nb201-hp12": BPEConfig(epochs=12),
    "bpe1": BPEConfig(epochs=10, batch_size=128, lr=0.03, channels=8, cells=2, resolution=16),
    "bpe2": BPEConfig(epochs=30, batch_size=128, lr=0.03, channels=16, cells=5, resolution=16),
    "cpu-tiny": BPEConfig(epochs=1, batch_size=128, lr=0.1, channels=4, cells=1, resolution=8, fraction=0.1),
    "cpu-small": BPEConfig(epochs=2, batch_size=128, lr=0.1, channels=8, cells=1, resolution=16, fraction=0.1),
    "cpu-medium": BPEConfig(epochs=3, batch_size=128, lr=0.1, channels=8, cells=1, resolution=16, fraction=0.2),
    "cpu-mip-rs": BPEConfig(epochs=4, batch_size=64, lr=0.1, channels=8, cells=2, resolution=8, fraction=0.1),
}
"""Named BPEs. How they were derived:

- `nb201`: the full NB201 protocol (200 epochs); `nb201-hp12`: NB201's separate 12-epoch schedule (its recorded
  12-epoch accuracies are in the reference data, so live runs can be checked against them).
- `bpe1`, `bpe2`: the paper's BPE1 and BPE2 as its official repository releases them (param_setting.py): BPE1 = 10
  epochs, batch 128, lr 0.03, 6 layers, 8 channels, 16 px; BPE2 = 30 epochs, batch 128, lr 0.03, 16 layers,
  16 channels, 16 px; both fp32 without cutout. Epochs, batch, lr, channels (the stem width C, doubled per stage in
  both spaces), image size, precision and cutout carry over as they are. "Layers" is a DARTS-space count: DARTS
  stacks L cells in three resolution stages, two of them reduction cells. NB201 also has three stages, but its
  reductions are fixed residual blocks and N counts the searched cells per stage, so L layers map to N = L / 3 cells
  per stage, rounded to the nearest: 6 layers -> N = 2 (6 searched cells); 16 layers -> 16 / 3 = 5.33 -> N = 5
  (15 searched cells: NB201's own depth).
- `cpu-tiny`, `cpu-small`, `cpu-medium`: sized for a 2-core CPU (one process, one torch thread); measured on 100
  unique cifar10-valid archs (results/bpe_cpu_experiment.md, 2 workers on 2 shared cores): 0.9, 4.9 and 6.8 s per
  arch, Kendall tau 0.01, 0.19 and 0.19: none of them ranks as well as the parameter count (0.53).
- `cpu-mip-rs`: the best BPE of the CPU-sized MIP run (its random-search arm, results/mip_cpu.md): Kendall tau
  0.364 [0.197, 0.520] on 50 unique archs, the best tau per CPU second measured there (with the earlier
  per-iteration lr schedule); the BPE the searchers' headline comparison uses (results/search_experiment.md).
"""


@dataclass(frozen=True)
class WorkUnit:
    """Train one arch under one BPE: a pure function of these fields (run by `run_unit`)."""

    config: BPEConfig
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
        unit.config.to_train_config(unit.seed, unit.device),
        splits,
        unit.eval_split,
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


@functools.lru_cache(maxsize=2)
def load_splits(dataset: str, data_root: str | None) -> DatasetSplits:
    """The dataset, loaded once per process (workers keep it between units)."""
    if data_root == SYNTHETIC_ROOT:
        return synthetic(num_classes=NUM_CLASSES[dataset])
    return load(dataset, data_root, progress=False)


def estimator_config(bpe: BPEConfig, eval_split: str = "x-valid", data_root: str | None = None) -> dict:
    """What changes a BPE's scores: the config, the eval split and synthetic data (not where or how fast it runs)."""
    synthetic_data = {"data": "synthetic"} if data_root == SYNTHETIC_ROOT else {}
    return bpe.to_dict() | {"eval_split": eval_split} | synthetic_data


def store_key(bpe: BPEConfig, eval_split: str = "x-valid", data_root: str | None = None, name: str = "bpe") -> str:
    """The results store's config key of estimator `name` running `bpe` scored on `eval_split` with `data_root`."""
    return results_store.config_key({"estimator": name, "config": estimator_config(bpe, eval_split, data_root)})


@dataclass(frozen=True)
class BPEEstimator:
    """Trains each arch under `bpe`; scores = final accuracy (%) on `eval_split`; costs = measured seconds."""

    gt: GroundTruth
    bpe: BPEConfig
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

    def estimate(self, archs: np.ndarray, dataset: str, seed: int = 0) -> Estimation:
        """Scores and costs of `archs`, training only those the store lacks."""
        if dataset not in SPLITS_OF:
            raise ValueError(f"unknown dataset {dataset!r}; allowed: {', '.join(SPLITS_OF)}")
        if self.eval_split not in SPLITS_OF[dataset]:
            raise ValueError(
                f"{dataset} has no {self.eval_split} split; score on one of {', '.join(SPLITS_OF[dataset])} "
                "(eval_split=...)"
            )
        archs = np.asarray(archs, dtype=np.int64)
        strings = self.gt.arch_strings
        executor = self.executor
        errors: list[dict] = []
        with results_store.writer(self.execution.store) as store:
            store.add_config(self.key, self.record)
            todo = [a for a in dict.fromkeys(archs.tolist()) if not store.has(self.key, dataset, a, seed)]
            units = [
                WorkUnit(self.bpe, dataset, a, strings[a], seed, self.eval_split, self.data_root, self.curve)
                for a in todo
            ]
            for outcome in executor.run(run_unit, units, desc=f"bpe {self.bpe.describe()} on {dataset}"):
                if outcome.ok:
                    store.put(self.key, dataset, outcome.value)
                else:  # not stored: a rerun tries again
                    errors.append({"arch": units[outcome.index].arch, "reason": outcome.error})
            stored = {a: store.get(self.key, dataset, a, seed) for a in dict.fromkeys(archs.tolist())}
            present = [r for r in stored.values() if r is not None]
            failed_runs = [{"arch": a, "reason": r.reason} for a, r in stored.items() if r is not None and r.failed]
            metadata = {
                "bpe": self.bpe.to_dict(),
                "bpe_hash": self.bpe.config_hash(),
                "eval_split": self.eval_split,
                "store": str(store.path),
                "store_key": self.key,
                "computed": len(todo) - len(errors),
                "reused": len(stored) - len(todo),
                "executor": executor.describe(),
                "total_macs": float(sum(r.macs + r.eval_macs for r in present)),
                "total_eval_macs": float(sum(r.eval_macs for r in present)),
                "total_eval_seconds": float(sum(r.eval_seconds for r in present)),
                "curve": self.curve,
                "failures": errors + failed_runs,
            }
            # seconds on the device each unit recorded (device_label where it ran, a Dask worker included)
            return stored_estimation(store, self.key, dataset, archs, seed, metadata)


def _default_workers(workers: int | None) -> int | None:
    """None: one process per core on CPU; on a CUDA machine one inline worker owns the GPU."""
    if workers is not None:
        return workers
    import torch

    return 1 if torch.cuda.is_available() else None


@register("bpe", family="bpe", live=True, options=BPEConfig)
def bpe(
    gt: GroundTruth,
    config: BPEConfig | None = None,
    preset: str | None = None,
    execution: Execution | None = None,
    eval_split: str = "x-valid",
    curve: bool = False,
) -> BPEEstimator:
    """Train each arch under a budgeted setting (BPE; default: full NB201 protocol), score = final accuracy."""
    if preset is not None:
        if config is not None:
            raise ValueError("give either a BPE config or a preset name, not both")
        config = BPEConfig.from_preset(preset)
    return BPEEstimator(gt, config or BPEConfig(), execution or Execution(), eval_split, curve)
