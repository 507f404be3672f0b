"""The estimator protocol: score archs on a dataset with a seed, report the cost of doing so in named units; and
`Execution`, where a live estimator runs.

Every cost has a unit. `costs` are seconds on the device `device` names: `NB201_GPU` for NB201's recorded times
(GTX 1080 Ti), the machine a live run measured on otherwise; seconds of two devices are never divided. Multiply-adds
(`train_macs`, `eval_macs`) are device-independent: the unit every speed-up is computed in.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from typing import Protocol, runtime_checkable

import numpy as np

from harness import paths
from harness.executor import Executor
from harness.store import Store

NB201_GPU = "nb201-gpu"
"""Device of NB201's recorded times (a GTX 1080 Ti)."""
NO_DEVICE = "none"
"""Device of a free estimator (no seconds spent anywhere)."""


@dataclass(frozen=True)
class Reads:
    """Ground truth an estimation read, per arch: the seed of `split`/`metric` at `hp` epochs (-1: no value).

    The evaluation scores such an estimation against the target's other seeds, never against a value it read.
    """

    split: str
    metric: str
    hp: int
    seeds: np.ndarray


@dataclass(frozen=True)
class Estimation:
    """Scores (higher = better, NaN = failed) and the cost of each, one per arch asked for.

    `costs`: seconds (training plus evaluation) on `device`; `train_macs` / `eval_macs`: multiply-adds spent training
    (forward + backward) and evaluating (forward), per arch.
    """

    archs: np.ndarray
    scores: np.ndarray
    costs: np.ndarray
    device: str
    train_macs: np.ndarray
    eval_macs: np.ndarray
    metadata: dict = field(default_factory=dict)
    reads: Reads | None = None

    def __post_init__(self) -> None:
        lengths = [len(getattr(self, name)) for name in ("archs", "scores", "costs", "train_macs", "eval_macs")]
        if len(set(lengths)) != 1:
            raise ValueError(f"archs, scores, costs, train_macs and eval_macs must have equal length, got {lengths}")
        if not isinstance(self.device, str) or not self.device:
            raise ValueError(f"Estimation.device = {self.device!r} is invalid: name the device the seconds are on")
        if self.reads is not None and len(self.reads.seeds) != lengths[0]:
            raise ValueError(f"reads.seeds has {len(self.reads.seeds)} entries for {lengths[0]} archs")

    @property
    def macs(self) -> np.ndarray:
        """Training plus evaluation multiply-adds per arch."""
        return np.asarray(self.train_macs, dtype=np.float64) + np.asarray(self.eval_macs, dtype=np.float64)


def free(archs: np.ndarray, scores: np.ndarray, metadata: dict | None = None) -> Estimation:
    """An estimation that cost nothing (table reads of model size and the like)."""
    zeros = np.zeros(len(archs))
    return Estimation(archs, scores, zeros, NO_DEVICE, zeros, zeros, metadata or {})


@runtime_checkable
class Estimator(Protocol):
    """Anything that scores arch indices; `name` is its registry name, `config` what makes its scores differ."""

    name: str

    @property
    def config(self) -> dict: ...

    def estimate(self, archs: np.ndarray, dataset: str, seed: int = 0) -> Estimation: ...


def check_ready(component: object, dataset: str) -> None:
    """Raise `harness.checks.Unavailable` (what is missing, how to get it) if `component` cannot run on `dataset`.

    Estimators and searchers may define `check(dataset)`, which looks for data, merged tables and devices without
    computing anything; it runs once before any arch or seed starts.
    """
    check = getattr(component, "check", None)
    if check is not None:
        check(dataset)


@dataclass(frozen=True)
class Execution:
    """Where a live estimator (one whose registry entry is `live`) reads data, runs its units and stores results.

    The one object every live estimator takes (`factory(gt, ..., execution=Execution(...))`). Nothing in it changes a
    score, so none of it is part of an estimator's `config` or store key, except that synthetic data is named there.
    None means the estimator's default. Each field's metadata carries its help (the CLI's flags come from it).
    """

    data_root: str | os.PathLike[str] | None = field(
        default=None,
        metadata={"help": f"folder holding the datasets, e.g. ../shared/data (default: ${paths.DATA_ROOT_ENV}, "
                  f"else the shared data); '{paths.SYNTHETIC_ROOT}' runs on small synthetic images"},
    )  # fmt: skip
    store: Store | str | os.PathLike[str] | None = field(
        default=None, metadata={"help": "results file read back and written: a rerun computes only what is missing"}
    )
    workers: int | None = field(default=None, metadata={"help": "local worker processes (1: inline)"})
    scheduler: str | None = field(
        default=None, metadata={"help": "Dask scheduler tcp://HOST:PORT to run on instead of local processes"}
    )
    threads: int | None = field(default=None, metadata={"help": "torch threads per worker"})
    progress: bool = field(default=True, metadata={"help": "show a progress bar with an ETA"})

    def __post_init__(self) -> None:
        self.executor()  # validates workers, threads and the scheduler address
        if not isinstance(self.progress, bool):
            raise ValueError(f"Execution.progress = {self.progress!r} is invalid: must be True or False")

    @property
    def root(self) -> str:
        """The resolved data root (`paths.data_root`)."""
        return paths.data_root(self.data_root)

    @property
    def synthetic(self) -> bool:
        return self.data_root == paths.SYNTHETIC_ROOT

    def executor(self, workers: int | None = None, threads: int | None = None) -> Executor:
        """The executor of these settings; `workers` / `threads` are the estimator's defaults for unset ones."""
        chosen_workers = self.workers if self.workers is not None else workers
        chosen_threads = self.threads if self.threads is not None else threads
        return Executor(chosen_workers, self.scheduler, self.progress, chosen_threads)

    def without_store(self) -> Execution:
        return replace(self, store=None)
