"""The BPE search space: per-dimension value lists of a cheap training setting, loaded from TOML and validated.

A space file names every dimension once under `[dimensions]`, each with a non-empty list of distinct values:

    description = "CPU-sized"
    [dimensions]
    epochs = [1, 2, 4]
    batch_size = [64, 128]
    ...

A config (one BPE) is a plain dict {dimension: value} in `DIMENSIONS` order: the `harness.train.BPE` fields the
space searches, each value checked by that field's own rule. Values are kept sorted (numbers ascending; precisions
in `harness.train.PRECISIONS` order), so a value's position is an ordinal code that forests and fANOVA can split on.
"""

from __future__ import annotations

import itertools
import math
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from harness.train import FIELDS, PRECISIONS, rule

Config = dict[str, Any]

NOT_SEARCHED: tuple[str, ...] = ("lr_schedule", "eval_images")
"""BPE fields the space leaves at their defaults."""
DIMENSIONS: tuple[str, ...] = tuple(name for name in FIELDS if name not in NOT_SEARCHED)
"""The BPE fields the space searches, in `harness.train.BPE` order."""
BUILTIN_SPACES: tuple[str, ...] = ("cpu", "gpu")


@dataclass(frozen=True)
class BPESpace:
    """Allowed values of each BPE dimension (every dimension of `DIMENSIONS`, each a non-empty list)."""

    values: Mapping[str, tuple]
    description: str = ""
    fixed: tuple[str, ...] = field(default=())
    """Dimensions pruned to one value by MIP, in pruning order."""

    def __post_init__(self) -> None:
        if not isinstance(self.values, Mapping):
            raise ValueError(f"space values must be a mapping of dimension -> list, got {type(self.values).__name__}")
        unknown = [d for d in self.values if d not in DIMENSIONS]
        if unknown:
            raise ValueError(
                f"unknown BPE dimension(s) {', '.join(map(repr, unknown))}; allowed: {', '.join(DIMENSIONS)}"
            )
        missing = [d for d in DIMENSIONS if d not in self.values]
        if missing:
            raise ValueError(
                f"BPE space lacks dimension(s) {', '.join(missing)}; every one of {', '.join(DIMENSIONS)} "
                "needs a list of values (one value fixes it)"
            )
        normalised = {}
        for dim in DIMENSIONS:
            normalised[dim] = _check_values(dim, self.values[dim])
        if normalised["cutout"][-1] > normalised["resolution"][0]:
            raise ValueError(
                f"BPE space dimension 'cutout': value {normalised['cutout'][-1]} is invalid: must be at most the "
                f"smallest resolution ({normalised['resolution'][0]})"
            )
        object.__setattr__(self, "values", normalised)
        for dim in self.fixed:
            if dim not in DIMENSIONS or len(normalised[dim]) != 1:
                raise ValueError(f"fixed dimension {dim!r} must be a BPE dimension with exactly one value")

    # ---- construction

    @classmethod
    def from_toml(cls, path: str | Path) -> BPESpace:
        path = Path(path).expanduser()
        if not path.is_file():
            raise ValueError(f"BPE space file {path} does not exist")
        try:
            data = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as err:
            raise ValueError(f"BPE space file {path} is not valid TOML: {err}") from err
        return cls.from_dict(data, source=str(path))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "space") -> BPESpace:
        extra = set(data) - {"description", "dimensions"}
        if extra:
            raise ValueError(f"{source}: unknown key(s) {', '.join(sorted(extra))}; allowed: description, dimensions")
        if not isinstance(data.get("dimensions"), Mapping):
            raise ValueError(f"{source}: needs a [dimensions] table listing {', '.join(DIMENSIONS)}")
        return cls(dict(data["dimensions"]), str(data.get("description", "")))

    @classmethod
    def load(cls, name_or_path: str | Path) -> BPESpace:
        """A built-in space ('cpu', 'gpu') or a TOML file."""
        if str(name_or_path) in BUILTIN_SPACES:
            text = resources.files("searchers.mip").joinpath("spaces", f"{name_or_path}.toml").read_text()
            return cls.from_dict(tomllib.loads(text), source=f"built-in space {name_or_path!r}")
        path = Path(name_or_path).expanduser()
        if not path.suffix == ".toml" and not path.exists():
            raise ValueError(
                f"BPE space must be one of {', '.join(BUILTIN_SPACES)} or a .toml file, got {name_or_path!r}"
            )
        return cls.from_toml(path)

    # ---- queries

    @property
    def varying(self) -> tuple[str, ...]:
        """Dimensions with more than one value, in `DIMENSIONS` order."""
        return tuple(d for d in DIMENSIONS if len(self.values[d]) > 1)

    @property
    def size(self) -> int:
        return math.prod(len(v) for v in self.values.values())

    def fix(self, dim: str, value: object) -> BPESpace:
        """The sub-space with `dim` pruned to `value`."""
        if dim not in DIMENSIONS or value not in self.values[dim]:
            raise ValueError(f"cannot fix {dim!r} to {value!r}: allowed values are {self.values.get(dim)}")
        values = {**self.values, dim: (value,)}
        return BPESpace(values, self.description, (*self.fixed, dim))

    def contains(self, config: Mapping[str, Any]) -> bool:
        return set(config) == set(DIMENSIONS) and all(config[d] in self.values[d] for d in DIMENSIONS)

    def configs(self) -> Iterator[Config]:
        """Every config, in lexicographic order of value positions."""
        for combo in itertools.product(*(self.values[d] for d in DIMENSIONS)):
            yield dict(zip(DIMENSIONS, combo, strict=True))

    def sample(self, n: int, rng: np.random.Generator) -> list[Config]:
        """`n` distinct configs drawn uniformly (all of them, shuffled, when the space holds at most `n`)."""
        if self.size <= n:
            pool = list(self.configs())
            return [pool[i] for i in rng.permutation(len(pool))]
        seen: dict[tuple, Config] = {}
        while len(seen) < n:
            config = {d: self.values[d][rng.integers(len(self.values[d]))] for d in DIMENSIONS}
            seen.setdefault(config_key(config), config)
        return list(seen.values())

    def encode(self, config: Mapping[str, Any], dims: tuple[str, ...]) -> list[int]:
        """Positions of the config's values in `dims` (its ordinal code)."""
        return [self.values[d].index(config[d]) for d in dims]

    def to_dict(self) -> dict:
        return {
            "description": self.description,
            "dimensions": {d: list(v) for d, v in self.values.items()},
            "fixed": list(self.fixed),
        }


def config_key(config: Mapping[str, Any]) -> tuple:
    """Hashable identity of a config."""
    return tuple(config[d] for d in DIMENSIONS)


def _check_values(dim: str, values: object) -> tuple:
    if isinstance(values, str | bytes) or not isinstance(values, list | tuple):
        raise ValueError(f"BPE space dimension {dim!r} must be a list of values, got {values!r}")
    if not values:
        raise ValueError(f"BPE space dimension {dim!r} has an empty list; give at least one value")
    dim_rule = rule(dim)
    for value in values:
        if not dim_rule.check(value):
            raise ValueError(f"BPE space dimension {dim!r}: value {value!r} is invalid: must be {dim_rule.allowed}")
    if len(set(values)) != len(values):
        raise ValueError(f"BPE space dimension {dim!r} lists a value twice: {list(values)}")
    if dim == "precision":
        return tuple(p for p in PRECISIONS if p in values)
    return tuple(sorted(values))
