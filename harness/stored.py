"""Estimator runs through the resumable results store: what is stored is never computed twice."""

from __future__ import annotations

import numpy as np

from harness.estimation import Estimation, Estimator
from harness.store import Result, Store, config_key


def estimator_record(estimator: Estimator) -> dict:
    """What identifies an estimator's scores: its name and config."""
    return {"estimator": estimator.name, "config": estimator.config}


def estimator_key(estimator: Estimator) -> str:
    """The store's config key of `estimator`."""
    return config_key(estimator_record(estimator))


def run_stored(estimator: Estimator, store: Store, dataset: str, archs: np.ndarray, seed: int) -> Estimation:
    """Scores and costs of `archs`, estimating only those the store lacks and storing each new result."""
    key = estimator_key(estimator)
    store.add_config(key, estimator_record(estimator))
    archs = np.asarray(archs, dtype=np.int64)
    missing = np.array([a for a in archs if not store.has(key, dataset, a, seed)], dtype=np.int64)
    metadata: dict = {"computed": len(missing), "reused": len(archs) - len(missing), "key": key}
    if len(missing):
        fresh = estimator.estimate(missing, dataset, seed)
        metadata.update(fresh.metadata)
        columns = (fresh.archs, fresh.scores, fresh.costs, fresh.train_macs, fresh.eval_macs)
        for arch, score, cost, train_macs, eval_macs in zip(*columns, strict=True):
            if np.isnan(cost) or store.has(key, dataset, arch, seed):
                continue  # no cost: the unit errored before producing a result; a rerun tries it again
            result = Result(
                int(arch),
                seed,
                float(score),
                wall_seconds=float(cost),
                macs=float(train_macs),
                failed=not np.isfinite(score),
                eval_seconds=float("nan"),  # an Estimation gives the total only
                eval_macs=float(eval_macs),
                device=fresh.device,
            )
            store.put(key, dataset, result)
    return stored_estimation(store, key, dataset, archs, seed, metadata)


def stored_estimation(
    store: Store, key: str, dataset: str, archs: np.ndarray, seed: int, metadata: dict | None = None
) -> Estimation:
    """The stored results of `archs` under `key` as an Estimation (NaN where one is missing)."""
    table = store.results(key, dataset)
    row_of = {(int(a), int(s)): i for i, (a, s) in enumerate(zip(table.arch, table.seed, strict=True))}
    rows = [row_of.get((int(a), seed)) for a in archs]

    def column(values: np.ndarray) -> np.ndarray:
        return np.array([np.nan if r is None else values[r] for r in rows])

    devices = sorted({table.devices[r] for r in rows if r is not None} - {""})
    device = devices[0] if len(devices) == 1 else ("mixed: " + ", ".join(devices) if devices else "unknown")
    return Estimation(
        np.asarray(archs, dtype=np.int64),
        column(table.score),
        column(table.wall_seconds),
        device,
        column(table.macs),
        column(table.eval_macs),
        metadata or {},
    )
