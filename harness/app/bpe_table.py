"""The tabular BPE benchmark: many BPE configs, each trained on the same fixed arch sample, stored per arch.

A table is a results store (`harness.store`, resumable: a killed build loses at most the units in flight) plus a
JSON sidecar naming what it holds: the `TableSpec` (space, design size, arch sample, eval subset), the configs in
design order and their store keys. Configs come from a scrambled Halton design over the space (a prefix of one
sequence, so `--configs 50` keeps the 40 configs of `--configs 40`) plus the named presets (`bpe1` by default),
each scoring a fixed class-balanced subset of `eval_images` images of the eval split once, after the last epoch.
Every arch trains with the same seed, hence on the same class-balanced train subset (`fraction`).

`build` trains configs in order of predicted cost (cheapest first, so a partial table holds whole configs), fitting
the cost model to the seconds measured so far for its progress line and ETA. `load` reads the table back as arrays
(configs x archs: score, measured seconds, training multiply-adds, and those relative to full NB201 training).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

import estimators
from estimators.bpe import store_key
from harness import metrics, records
from harness.app.mip_experiment import full_macs
from harness.checks import require_int
from harness.datasets import NUM_CLASSES, TRAIN_IMAGES, eval_images, eval_splits
from harness.estimation import Execution
from harness.evaluate import Target, select_archs
from harness.groundtruth import GroundTruth, schema
from harness.store import Store
from harness.train import BPE, PRESETS
from searchers.mip.cost import CostModel
from searchers.mip.design import halton
from searchers.mip.space import BPESpace

DEFAULT_PATH = Path("results") / "bpe_table.h5"


@dataclass(frozen=True)
class TableSpec:
    """What a BPE table holds: a design over `space`, presets, and the arch sample every config trains on."""

    space: str = "cpu"
    configs: int = 40
    """Configs of the Halton design (the presets come on top)."""
    archs: int = 60
    """Unique archs sampled with `seed`; every config trains on all of them."""
    seed: int = 0
    """Seed of the design, the arch sample and every training run (one train subset for every arch)."""
    dataset: str = "cifar10-valid"
    eval_split: str = "ori-test"
    eval_images: int = 5000
    """Images of the eval split scored: one fixed class-balanced subset (0 = all)."""
    presets: tuple[str, ...] = ("bpe1",)
    target: str | None = None
    """Ground truth the taus are computed against (default: the dataset's mean 200-epoch x-valid accuracy)."""

    def __post_init__(self) -> None:
        space = BPESpace.load(self.space)
        require_int("TableSpec", "configs", self.configs, minimum=1, maximum=space.size)
        require_int("TableSpec", "archs", self.archs, minimum=4)
        require_int("TableSpec", "seed", self.seed, minimum=0)
        schema.check_dataset(self.dataset)
        if self.eval_split not in eval_splits(self.dataset):
            raise ValueError(
                f"eval_split {self.eval_split!r} is invalid for {self.dataset}: {eval_splits(self.dataset)}"
            )
        require_int(
            "TableSpec", "eval_images", self.eval_images, minimum=0, maximum=eval_images(self.dataset, self.eval_split)
        )
        unknown = [p for p in self.presets if p not in PRESETS]
        if unknown:
            raise ValueError(f"unknown BPE preset(s) {unknown}; available: {', '.join(PRESETS)}")
        Target.parse(self.target, self.dataset)

    def design(self) -> list[BPE]:
        """The configs in design order: the Halton prefix, then the presets (each scoring `eval_images`)."""
        points = [
            BPE(**c, eval_images=self.eval_images) for c in halton(BPESpace.load(self.space), self.configs, self.seed)
        ]
        extra = [BPE.from_preset(p, eval_images=self.eval_images) for p in self.presets]
        return list(dict.fromkeys([*points, *extra]))

    def to_dict(self) -> dict:
        return asdict(self) | {"presets": list(self.presets)}


def sidecar(path: str | Path) -> Path:
    return Path(path).with_suffix(".json")


def build(
    spec: TableSpec,
    gt: GroundTruth,
    execution: Execution,
    log: Callable[[str], None] = print,
    deadline: float | None = None,
) -> dict:
    """Train every config of `spec` the store lacks, cheapest predicted first; stop before a config starts after
    `deadline` (time.time()). Returns the sidecar record (also written beside the store)."""
    if not isinstance(execution.store, str | Path):
        raise ValueError("a BPE table build needs its store as a path (the table file)")
    archs = select_archs(str(spec.archs), gt, seed=spec.seed)
    design = spec.design()
    model = CostModel(
        tuple(gt.arch_strings[a] for a in archs[:5]),
        NUM_CLASSES[spec.dataset],
        TRAIN_IMAGES[spec.dataset],
        eval_images(spec.dataset, spec.eval_split),
        len(archs),
    )
    order = sorted(range(len(design)), key=lambda i: model.predict(design[i].to_dict()))
    start = time.time()
    measured: dict[int, float] = {}
    record = _record(spec, archs, design, execution, measured)
    for step, index in enumerate(order):
        bpe = design[index]
        if deadline is not None and time.time() >= deadline:
            log(f"deadline reached: {len(order) - step} configs left; rerun the same command to continue")
            break
        estimator = estimators.create("bpe", gt, config=bpe, execution=execution, eval_split=spec.eval_split)
        estimation = estimator.estimate(archs, spec.dataset, spec.seed)
        seconds = float(np.nansum(estimation.costs))
        if np.isnan(estimation.costs).any():
            log(f"{bpe.describe()}: {int(np.isnan(estimation.costs).sum())} archs missing (errors); rerun to retry")
        else:
            measured[index] = seconds
        fitted = model.fit([design[i].to_dict() for i in measured], list(measured.values()))
        eta = sum(fitted.predict(design[i].to_dict()) for i in order[step + 1 :])
        log(
            f"[{step + 1}/{len(order)}] {bpe.describe()}: {seconds:.0f} s over {len(archs)} archs "
            f"({estimation.metadata.get('computed', 0)} trained now); table so far {sum(measured.values()) / 3600:.2f} "
            f"CPU-h; predicted remainder {eta / 3600:.1f} h of unit seconds (cost model fitted on {fitted.fitted_on} "
            f"configs); elapsed {time.time() - start:.0f} s"
        )
        record = _record(spec, archs, design, execution, measured, eta)
        records.write_atomic(sidecar(execution.store), json.dumps(records.strict_json(record), indent=1) + "\n")
    records.write_atomic(sidecar(execution.store), json.dumps(records.strict_json(record), indent=1) + "\n")
    return record


def _record(
    spec: TableSpec,
    archs: np.ndarray,
    design: list[BPE],
    execution: Execution,
    measured: dict,
    eta: float | None = None,
) -> dict:
    keys = [store_key(b, spec.eval_split, execution.root) for b in design]
    return {
        "format": "bpebench-bpe-table",
        "version": 1,
        "spec": spec.to_dict(),
        "archs": archs.tolist(),
        "configs": [b.to_dict() for b in design],
        "keys": keys,
        "predicted_remaining_seconds": eta,
        "command": command(spec, execution),
        "provenance": records.collect(),
    }


def command(spec: TableSpec, execution: Execution) -> str:
    """The `bpebench mip table build` command that extends or continues this table."""
    presets = ",".join(spec.presets) or "''"
    parts = [
        "bpebench mip table build",
        f"--space {spec.space} --configs {spec.configs} --archs {spec.archs} --seed {spec.seed}",
        f"--dataset {spec.dataset} --eval-split {spec.eval_split} --eval-images {spec.eval_images}",
        f"--presets {presets} --table {execution.store} --data-root {execution.data_root}",
        f"--workers {execution.workers}",
    ]
    return " ".join(parts)


@dataclass(frozen=True, eq=False)
class BPETable:
    """A BPE table as arrays: configs x archs, NaN where a result is missing or a training failed."""

    configs: list[dict]
    archs: np.ndarray
    truth: np.ndarray
    scores: np.ndarray
    seconds: np.ndarray
    """Measured seconds of each unit (training plus evaluation) on `device`."""
    macs: np.ndarray
    """Training plus evaluation multiply-adds of each unit."""
    full_macs: np.ndarray
    """Multiply-adds of training each arch under the full NB201 protocol (200 epochs)."""
    device: str = ""
    spec: dict = field(default_factory=dict)

    @property
    def complete(self) -> np.ndarray:
        """Configs with a result for every arch."""
        return ~np.isnan(self.seconds).any(axis=1)

    def relative_macs(self) -> np.ndarray:
        """Each config's multiply-adds over all archs, divided by full training's over the same archs."""
        return np.nansum(self.macs, axis=1) / float(self.full_macs.sum())

    def subset(self, rows: np.ndarray) -> BPETable:
        rows = np.asarray(rows)
        return BPETable(
            [self.configs[i] for i in rows],
            self.archs,
            self.truth,
            self.scores[rows],
            self.seconds[rows],
            self.macs[rows],
            self.full_macs,
            self.device,
            self.spec,
        )


def load(path: str | Path, gt: GroundTruth) -> BPETable:
    """The table at `path` (store plus its JSON sidecar) with ground truth from `gt`."""
    side = sidecar(path)
    if not side.is_file():
        raise ValueError(f"{side} does not exist: build the table first (bpebench mip table build ...)")
    record = json.loads(side.read_text())
    spec = TableSpec(**{**record["spec"], "presets": tuple(record["spec"]["presets"])})
    archs = np.asarray(record["archs"], dtype=np.int64)
    shape = (len(record["configs"]), len(archs))
    scores, seconds, macs = np.full(shape, np.nan), np.full(shape, np.nan), np.full(shape, np.nan)
    devices = set()
    with Store(path, readonly=True) as store:
        for row, key in enumerate(record["keys"]):
            table = store.results(key, spec.dataset)
            where = {int(a): i for i, (a, s) in enumerate(zip(table.arch, table.seed, strict=True)) if s == spec.seed}
            for col, arch in enumerate(archs):
                i = where.get(int(arch))
                if i is not None:
                    scores[row, col] = table.score[i]
                    seconds[row, col] = table.wall_seconds[i]
                    macs[row, col] = table.macs[i] + table.eval_macs[i]
                    devices.add(table.devices[i])
    truth = Target.parse(spec.target, spec.dataset).values(gt, spec.dataset)[archs]
    return BPETable(
        record["configs"],
        archs,
        truth,
        scores,
        seconds,
        macs,
        full_macs(gt, archs, spec.dataset),
        ", ".join(sorted(devices)),
        record["spec"],
    )


def cpu_hours(table: BPETable) -> float:
    return float(np.nansum(table.seconds)) / 3600


def status(path: str | Path, gt: GroundTruth) -> dict:
    """What the table holds and what is left: configs complete, unit seconds spent, predicted remainder."""
    table = load(path, gt)
    spec = TableSpec(**{**table.spec, "presets": tuple(table.spec["presets"])})
    model = CostModel(
        tuple(gt.arch_strings[a] for a in table.archs[:5]),
        NUM_CLASSES[spec.dataset],
        TRAIN_IMAGES[spec.dataset],
        eval_images(spec.dataset, spec.eval_split),
        len(table.archs),
    )
    done = np.flatnonzero(table.complete)
    measured = [float(np.nansum(table.seconds[i])) for i in done]
    fitted = model.fit([table.configs[i] for i in done], measured)
    left = [i for i in range(len(table.configs)) if i not in set(done.tolist())]
    spent_units = float(np.nansum(table.seconds))
    rate = float(np.nansum(table.macs)) / spent_units if spent_units > 0 else math.nan
    left_macs = []
    for i in left:
        work = model.features(table.configs[i])
        missing = np.isnan(table.seconds[i]).mean()
        left_macs.append(len(table.archs) * missing * (work[0] + work[2]))
    taus = {i: metrics.kendall_tau(*_prepared(table.scores[i], table.truth)) for i in done}
    return {
        "configs": len(table.configs),
        "complete": len(done),
        "results": int(np.isfinite(table.seconds).sum()),
        "cells": int(table.seconds.size),
        "unit_hours_spent": spent_units / 3600,
        "device": table.device,
        "predicted_remaining_unit_hours_cost_model": float(
            sum(fitted.predict(table.configs[i]) * np.isnan(table.seconds[i]).mean() for i in left)
        )
        / 3600,
        "macs_per_unit_second": rate,
        "predicted_remaining_unit_hours_macs_rate": float(sum(left_macs) / rate / 3600) if rate > 0 else math.nan,
        "complete_configs": [
            {
                "config": BPE(**table.configs[i]).describe(),
                "kendall_tau": taus[i],
                "unit_seconds": float(np.nansum(table.seconds[i])),
                "relative_macs": float(table.relative_macs()[i]),
            }
            for i in done
        ],
    }


def _prepared(scores: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    prepared = metrics.prepare(scores, truth)
    return prepared.scores, prepared.truth
