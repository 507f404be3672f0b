"""Per-arch CSV tables (keyed by arch string or index) merged into a file as named metrics."""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from harness import space
from harness.groundtruth import schema


@dataclass(frozen=True)
class ColumnSpec:
    """Where one CSV column goes: dataset, split and metric (or a cost name with split 'cost')."""

    column: str
    dataset: str
    split: str
    metric: str

    def __post_init__(self) -> None:
        schema.check_dataset(self.dataset)
        if self.split == schema.COST_GROUP:
            schema.check_cost(self.metric)
        else:
            schema.check_split(self.split)
            schema.check_metric(self.metric)

    @classmethod
    def parse(cls, text: str) -> ColumnSpec:
        """Parse 'COLUMN=DATASET:SPLIT:METRIC', e.g. 'cifar10-val=cifar10-valid:x-valid:acc'."""
        column, sep, target = text.partition("=")
        parts = target.split(":")
        if not sep or len(parts) != 3 or not column:
            raise ValueError(f"column spec {text!r} must look like COLUMN=DATASET:SPLIT:METRIC")
        return cls(column, *parts)


PRESETS: dict[str, tuple[ColumnSpec, ...]] = {
    "nb201-hp12": (
        ColumnSpec("cifar10-val", "cifar10-valid", "x-valid", "acc"),
        ColumnSpec("cifar10-test", "cifar10", "ori-test", "acc"),
        ColumnSpec("cifar100-val", "cifar100", "x-valid", "acc"),
        ColumnSpec("cifar100-test", "cifar100", "x-test", "acc"),
        ColumnSpec("imagenet-val", "ImageNet16-120", "x-valid", "acc"),
        ColumnSpec("imagenet-test", "ImageNet16-120", "x-test", "acc"),
    ),
}
"""Column maps of known tables; `nb201-hp12` is the 12-epoch final-accuracy table (seed means)."""


class CsvTableSource:
    """A CSV with one row per arch; values are stored under seed -1 (seed mean) unless a seed is given."""

    name = "csv"

    def __init__(
        self, path: str | Path, key: str, columns: tuple[ColumnSpec, ...], hp: int, seed: int = schema.MEAN_SEED
    ):
        schema.check_hp(hp)
        if not columns:
            raise ValueError("name at least one column to merge (COLUMN=DATASET:SPLIT:METRIC or a preset)")
        self.path, self.key, self.columns, self.hp, self.seed = Path(path), key, columns, hp, seed
        if not self.path.is_file():
            raise ValueError(f"CSV file {self.path} does not exist")

    def _rows(self) -> list[dict[str, str]]:
        try:
            with self.path.open(newline="") as handle:
                reader = csv.DictReader(handle)
                rows = list(reader)
                header = reader.fieldnames or []
        except (UnicodeDecodeError, csv.Error) as err:
            raise ValueError(f"{self.path} is not a readable CSV file: {err}") from err
        wanted = [self.key, *(c.column for c in self.columns)]
        missing = [c for c in wanted if c not in header]
        if missing:
            raise ValueError(f"{self.path} lacks column(s) {', '.join(missing)}; it has: {', '.join(header)}")
        return rows

    def write(self, h5: h5py.File, progress: bool = True) -> dict:
        arch_strings = list(h5["arch_strings"].asstr()[...])
        rows = self._rows()
        indices = self._indices(rows, arch_strings)
        for spec in self.columns:
            values = np.full((len(arch_strings), 1), np.nan)
            for row, index in zip(rows, indices, strict=True):
                values[index, 0] = _number(row[spec.column], spec.column, self.path)
            unit = "%" if spec.metric == "acc" else ""
            path = f"{schema.group_path(spec.dataset, self.hp, spec.split)}/{spec.metric}"
            schema.write_table(h5, path, schema.Table(values=values, seeds=(self.seed,)), unit=unit)
        return {
            "path": str(self.path.resolve()),
            "sha256": hashlib.sha256(self.path.read_bytes()).hexdigest(),
            "key": self.key,
            "seed": self.seed,
            "rows": len(rows),
            "hp": self.hp,
            "columns": [f"{c.column}={c.dataset}:{c.split}:{c.metric}" for c in self.columns],
        }

    def _indices(self, rows: list[dict[str, str]], arch_strings: list[str]) -> list[int]:
        lookup = {arch: i for i, arch in enumerate(arch_strings)}
        indices = []
        for line, row in enumerate(rows, start=2):
            key = row[self.key].strip()
            if key.isdigit():
                index = int(key)
                if index >= len(arch_strings):
                    raise ValueError(f"{self.path}:{line}: arch index {index} out of range 0..{len(arch_strings) - 1}")
            else:
                space.parse(key)
                index = lookup[key]
            indices.append(index)
        if len(set(indices)) != len(indices):
            raise ValueError(f"{self.path}: some archs appear in more than one row")
        return indices


def _number(text: str, column: str, path: Path) -> float:
    if text.strip() == "":
        return float("nan")
    try:
        return float(text)
    except ValueError as err:
        raise ValueError(f"{path}: column {column!r} has a non-numeric value {text!r}") from err
