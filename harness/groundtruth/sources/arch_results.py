"""Collect official NB201/NATS `ArchResults` state dicts (the per-arch record format) into tables."""

from __future__ import annotations

from collections.abc import Mapping

import h5py
import numpy as np

from harness.groundtruth import schema


class _Grid:
    """Dense (archs, seeds[, epochs]) array that grows a seed column when a new seed appears."""

    def __init__(self, n_archs: int, epochs: int | None):
        self.n_archs, self.epochs = n_archs, epochs
        self.seeds: list[int] = []
        self.columns: list[np.ndarray] = []

    def column(self, seed: int) -> np.ndarray:
        if seed not in self.seeds:
            shape = (self.n_archs,) if self.epochs is None else (self.n_archs, self.epochs)
            self.seeds.append(seed)
            self.columns.append(np.full(shape, np.nan, dtype=np.float64 if self.epochs is None else np.float32))
        return self.columns[self.seeds.index(seed)]

    def stacked(self) -> np.ndarray:
        return np.stack(self.columns, axis=1)


class ArchResultsCollector:
    """Accumulates per-(dataset, seed) run records of many archs, then writes them as tables."""

    def __init__(self, n_archs: int):
        self.n_archs = n_archs
        self.finals: dict[tuple[str, int, str, str], _Grid] = {}
        self.curves: dict[tuple[str, int, str, str], _Grid] = {}
        self.costs: dict[tuple[str, int, str], _Grid] = {}

    def add(self, index: int, hp: int, arch_results: Mapping) -> None:
        """Add one arch's `ArchResults` state dict for schedule `hp` (keys 'all_results', 'dataset_seed')."""
        for (dataset, seed), run in arch_results["all_results"].items():
            if dataset not in schema.DATASETS:
                raise ValueError(f"record of arch {index} has unknown dataset {dataset!r}")
            self._add_run(index, hp, dataset, int(seed), run)

    def _add_run(self, index: int, hp: int, dataset: str, seed: int, run: Mapping) -> None:
        epochs = int(run["epochs"])
        if epochs != hp:
            raise ValueError(f"arch {index} {dataset} seed {seed}: record has {epochs} epochs, expected hp={hp}")
        self._add_series(index, hp, dataset, seed, "train", "acc", _by_epoch(run.get("train_acc1es")), epochs)
        self._add_series(index, hp, dataset, seed, "train", "loss", _by_epoch(run.get("train_losses")), epochs)
        for split in run["eval_names"]:
            for metric, key in (("acc", "eval_acc1es"), ("loss", "eval_losses")):
                series = {int(k.split("@")[1]): v for k, v in (run.get(key) or {}).items() if k.split("@")[0] == split}
                self._add_series(index, hp, dataset, seed, split, metric, series, epochs)
        costs = {
            "params": run.get("params"),
            "flops": run.get("flop"),
            "latency": _mean(run.get("latency")),
            "train_time": _total(run.get("train_times")),
            "eval_time": _total(run.get("eval_times")),
        }
        for name, value in costs.items():
            if value is not None:
                grid = self.costs.setdefault((dataset, hp, name), _Grid(self.n_archs, None))
                grid.column(seed)[index] = float(value)

    def _add_series(
        self, index: int, hp: int, dataset: str, seed: int, split: str, metric: str, series: dict, epochs: int
    ) -> None:
        if not series:
            return
        key = (dataset, hp, split, metric)
        final = series.get(epochs - 1)
        if final is not None:
            self.finals.setdefault(key, _Grid(self.n_archs, None)).column(seed)[index] = float(final)
        if len(series) == epochs:
            row = self.curves.setdefault(key, _Grid(self.n_archs, epochs)).column(seed)
            row[index] = [series[e] for e in range(epochs)]

    def write(self, h5: h5py.File) -> int:
        """Write every collected table into `h5`; returns the number of values written."""
        written = 0
        for key, grid in self.finals.items():
            dataset, hp, split, metric = key
            curve = self.curves.get(key)
            curve_values = None
            if curve is not None:
                curve_values = np.stack([curve.column(s) for s in grid.seeds], axis=1)
            table = schema.Table(values=grid.stacked(), seeds=tuple(grid.seeds), curve=curve_values)
            written += schema.write_table(
                h5, f"{schema.group_path(dataset, hp, split)}/{metric}", table, unit="%" if metric == "acc" else ""
            )
        for (dataset, hp, name), grid in self.costs.items():
            table = schema.Table(values=grid.stacked(), seeds=tuple(grid.seeds))
            written += schema.write_table(h5, f"{schema.group_path(dataset, hp, schema.COST_GROUP)}/{name}", table)
        return written


def _by_epoch(values: Mapping | None) -> dict[int, float]:
    return {int(k): float(v) for k, v in (values or {}).items()}


def _mean(values) -> float | None:
    if values is None:
        return None
    values = [float(v) for v in np.atleast_1d(values)]
    return float(np.mean(values)) if values else None


def _total(values: Mapping | None) -> float | None:
    return float(sum(values.values())) if values else None
