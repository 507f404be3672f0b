"""HDF5 layout of the ground-truth file and the one function that writes (merges) into it.

Layout (schema version 1)::

    /                       attrs: format, schema_version, builder_version, created, provenance (JSON list)
    /arch_strings           (15625,) utf-8, official index order
    /datasets/<dataset>/hp<hp>/<split>/<metric>          (archs, seeds) final-epoch values, attr seeds
    /datasets/<dataset>/hp<hp>/<split>/curves/<metric>   (archs, seeds, epochs) per-epoch values, attr seeds
    /datasets/<dataset>/hp<hp>/cost/<name>               (archs, seeds) params, flops, latency, train_time, ...

Seed -1 marks a value that the source gives only as a mean over seeds.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import h5py
import numpy as np

# NB201's dataset names, split names and dataset check: from its one table of dataset facts, harness.datasets
from harness.datasets import DATASETS as DATASETS
from harness.datasets import SPLITS, check_dataset

FORMAT = "bpebench-groundtruth"
SCHEMA_VERSION = 1
BUILDER_VERSION = "1.0"

METRICS: tuple[str, ...] = ("acc", "loss")
COSTS: tuple[str, ...] = ("params", "flops", "latency", "train_time", "eval_time")
COST_UNITS = {"params": "M", "flops": "M MACs", "latency": "s", "train_time": "s", "eval_time": "s"}
"""Units of the recorded costs: millions of parameters, millions of multiply-adds, seconds on NB201's GPU."""
MEAN_SEED = -1
COST_GROUP = "cost"


def _check(value: str, allowed: Sequence[str], what: str) -> None:
    if value not in allowed:
        raise ValueError(f"unknown {what} {value!r}; allowed: {', '.join(allowed)}")


def check_split(split: str) -> None:
    _check(split, SPLITS, "split")


def check_metric(metric: str) -> None:
    _check(metric, METRICS, "metric")


def check_cost(name: str) -> None:
    _check(name, COSTS, "cost")


def check_hp(hp: int) -> None:
    if not isinstance(hp, int | np.integer) or hp < 1:
        raise ValueError(f"hp (training schedule length in epochs) must be a positive int, got {hp!r}")


def group_path(dataset: str, hp: int, split: str) -> str:
    """Path of the group holding a split's metrics, or the cost group when split == 'cost'."""
    check_dataset(dataset)
    check_hp(hp)
    if split != COST_GROUP:
        check_split(split)
    return f"datasets/{dataset}/hp{int(hp)}/{split}"


@dataclass(frozen=True)
class Table:
    """Values of one metric or cost for every arch and seed (NaN where missing); curves optional."""

    values: np.ndarray
    seeds: tuple[int, ...]
    curve: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.values.ndim != 2 or self.values.shape[1] != len(self.seeds):
            raise ValueError(f"values must be (archs, {len(self.seeds)} seeds), got shape {self.values.shape}")
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds must be distinct, got {self.seeds}")
        if self.curve is not None and (self.curve.ndim != 3 or self.curve.shape[:2] != self.values.shape):
            raise ValueError(f"curve must be (archs, seeds, epochs) matching values, got {self.curve.shape}")


def init_file(h5: h5py.File, arch_strings: Sequence[str]) -> None:
    """Write the root attributes and the arch index of a new file."""
    h5.attrs["format"] = FORMAT
    h5.attrs["schema_version"] = SCHEMA_VERSION
    h5.attrs["builder_version"] = BUILDER_VERSION
    h5.attrs["provenance"] = "[]"
    h5.create_dataset("arch_strings", data=np.asarray(arch_strings, dtype=object), dtype=h5py.string_dtype())


def add_provenance(h5: h5py.File, record: dict) -> None:
    """Append one source's provenance record to the root attribute."""
    records = json.loads(h5.attrs["provenance"])
    records.append(record)
    h5.attrs["provenance"] = json.dumps(records, sort_keys=True)


def write_table(h5: h5py.File, path: str, table: Table, unit: str = "") -> int:
    """Merge `table` into the dataset at `path`: seeds are united, new non-NaN values win. Returns values set."""
    n_archs = h5["arch_strings"].shape[0]
    if table.values.shape[0] != n_archs:
        raise ValueError(f"table has {table.values.shape[0]} archs, the file has {n_archs}")
    old_values, old_seeds = _read(h5, path)
    seeds = tuple(sorted(set(table.seeds) | set(old_seeds)))
    values = _merge(old_values, old_seeds, table.values, table.seeds, seeds)
    _replace(h5, path, values, seeds, unit, chunks=(min(n_archs, 4096), len(seeds)))
    if table.curve is not None:
        curve_path = _curve_path(path)
        old_curve, old_curve_seeds = _read(h5, curve_path)
        epochs = table.curve.shape[2]
        if old_curve is not None and old_curve.shape[2] != epochs:
            raise ValueError(f"{path}: curve has {epochs} epochs, the file has {old_curve.shape[2]}")
        curve = _merge(old_curve, old_curve_seeds, table.curve, table.seeds, seeds)
        _replace(h5, curve_path, curve, seeds, unit, chunks=(min(n_archs, 512), len(seeds), min(epochs, 50)))
    return int(np.count_nonzero(~np.isnan(table.values)))


def _curve_path(path: str) -> str:
    head, _, metric = path.rpartition("/")
    return f"{head}/curves/{metric}"


def _read(h5: h5py.File, path: str) -> tuple[np.ndarray | None, tuple[int, ...]]:
    if path not in h5:
        return None, ()
    ds = h5[path]
    return ds[...], tuple(int(s) for s in ds.attrs["seeds"])


def _merge(
    old: np.ndarray | None, old_seeds: Sequence[int], new: np.ndarray, new_seeds: Sequence[int], seeds: Sequence[int]
) -> np.ndarray:
    shape = (new.shape[0], len(seeds), *new.shape[2:])
    merged = np.full(shape, np.nan, dtype=new.dtype if new.dtype == np.float32 else np.float64)
    for source, source_seeds in ((old, old_seeds), (new, new_seeds)):
        if source is None:
            continue
        for column, seed in enumerate(source_seeds):
            target = merged[:, seeds.index(seed)]
            given = ~np.isnan(source[:, column])
            target[given] = source[:, column][given]
    return merged


def _replace(h5: h5py.File, path: str, values: np.ndarray, seeds: Sequence[int], unit: str, chunks: tuple) -> None:
    if path in h5:
        del h5[path]
    ds = h5.create_dataset(path, data=values, chunks=chunks, compression="gzip", compression_opts=1, shuffle=True)
    ds.attrs["seeds"] = np.asarray(seeds, dtype=np.int64)
    ds.attrs["unit"] = unit
