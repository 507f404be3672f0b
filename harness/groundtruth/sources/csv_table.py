"""Per-arch CSV tables (keyed by arch string or index) merged into a file as named metrics."""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from harness import space
from harness.checks import is_int
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
        if not (seed == schema.MEAN_SEED or is_int(seed, 0)):
            raise ValueError(f"seed must be an int >= 0, or {schema.MEAN_SEED} for a mean over seeds; got {seed!r}")
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
        ragged = [line for line, row in enumerate(rows, start=2) if None in row or None in row.values()]
        if ragged:
            raise ValueError(f"{self.path}: {_lines(ragged)} do(es) not have {len(header)} fields like the header")
        return rows

    def write(self, h5: h5py.File, progress: bool = True) -> dict:
        arch_strings = list(h5["arch_strings"].asstr()[...])
        rows = self._rows()
        indices = self._indices(rows, arch_strings)
        for spec in self.columns:
            values = np.full((len(arch_strings), 1), np.nan)
            for row, index in zip(rows, indices, strict=True):
                values[index, 0] = _number(row[spec.column], spec.column, self.path)
            _check_range(spec, [_number(row[spec.column], spec.column, self.path) for row in rows], self.path)
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
        first: dict[int, int] = {}
        repeated = [line for line, index in enumerate(indices, start=2) if first.setdefault(index, line) != line]
        if repeated:
            raise ValueError(f"{self.path}: {_lines(repeated)}: an arch in more than one row (an earlier row has it)")
        return indices


RANGES: dict[str, tuple[float, float]] = {"acc": (0.0, 100.0)}
"""Allowed values per metric (accuracy in %); every other metric and cost (loss, seconds, counts) is >= 0."""


def _check_range(spec: ColumnSpec, values: list[float], path: Path) -> None:
    """A ValueError naming the rows of `spec.column` outside its metric's range (NaN = missing is allowed)."""
    low, high = RANGES.get(spec.metric, (0.0, float("inf")))
    bad = [line for line, v in enumerate(values, start=2) if not np.isnan(v) and not (low <= v <= high and v < np.inf)]
    if bad:
        allowed = f"in [{low:g}, {high:g}]" if np.isfinite(high) else f"finite and >= {low:g}"
        verb = "is" if len(bad) == 1 else "are"
        raise ValueError(f"{path}: column {spec.column!r} ({spec.metric}) must be {allowed}; {_lines(bad)} {verb} not")


def _lines(lines: list[int]) -> str:
    shown = ", ".join(map(str, lines[:5])) + (f" and {len(lines) - 5} more" if len(lines) > 5 else "")
    return f"line{'s' * (len(lines) > 1)} {shown}"


def _number(text: str, column: str, path: Path) -> float:
    if text.strip() == "":
        return float("nan")
    try:
        return float(text)
    except ValueError as err:
        raise ValueError(f"{path}: column {column!r} has a non-numeric value {text!r}") from err
