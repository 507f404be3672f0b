"""Benchmark suites: TOML files listing estimator, search and MIP work, run through the resumable store."""

from __future__ import annotations

import hashlib
import json
import math
import os
import tomllib
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path

import estimators
import searchers
from harness import paths, records
from harness.checks import is_int, is_number, require_int
from harness.datasets import DATASETS

SUITES = ("quick", "standard", "gpu")


def _strings(value: object, what: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{what} must be a non-empty list of strings, got {value!r}")
    return tuple(value)


def _check_datasets(datasets: tuple[str, ...], where: str) -> None:
    for dataset in datasets:
        if dataset not in DATASETS:
            raise ValueError(f"{where}: unknown dataset {dataset!r}; allowed: {', '.join(DATASETS)}")


@dataclass(frozen=True)
class EstimateStep:
    """Estimators x datasets x seeds, each on the same seeded arch selection."""

    estimators: tuple[str, ...]
    datasets: tuple[str, ...]
    archs: str
    seeds: tuple[int, ...]
    options: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in self.estimators:
            estimators.entry(name)
        _check_datasets(self.datasets, "estimate step")
        if not self.seeds or not all(is_int(s) for s in self.seeds):
            raise ValueError(f"estimate step: seeds must be a non-empty list of ints, got {self.seeds!r}")


@dataclass(frozen=True)
class SearchStep:
    """Searchers x estimators x datasets x budgets, each over seeds 0..seeds-1."""

    searchers: tuple[str, ...]
    estimators: tuple[str, ...]
    datasets: tuple[str, ...]
    budgets: tuple[float, ...]
    seeds: int
    options: dict = field(default_factory=dict)
    """Estimator options, e.g. {preset = "cpu-mip-rs"} for `bpe`."""
    queries: int | None = None
    """End each search after this many paid archs; `budgets` may then be left out (no time limit)."""

    def __post_init__(self) -> None:
        require_int("SearchStep", "queries", self.queries, minimum=1, optional=True)
        if not self.budgets and self.queries is not None:
            object.__setattr__(self, "budgets", (math.inf,))
        for name in self.searchers:
            searchers.entry(name)
        for name in self.estimators:
            estimators.entry(name)
        _check_datasets(self.datasets, "search step")
        if not self.budgets or not all(is_number(b, 0, low_open=True) for b in self.budgets):
            raise ValueError(f"search step: budgets must be positive numbers of seconds, got {self.budgets!r}")
        require_int("SearchStep", "seeds", self.seeds, minimum=1)


@dataclass(frozen=True)
class CsvTable:
    path: str
    preset: str


@dataclass(frozen=True)
class Suite:
    name: str
    description: str
    csv_tables: tuple[CsvTable, ...]
    images: str | None
    estimate: tuple[EstimateStep, ...]
    search: tuple[SearchStep, ...]
    sha256: str = ""
    """sha256 of the suite file's text: with the name, the key of the suite's stored record."""
    origin: str = ""
    """'shipped' or the path of the user's suite file."""

    @property
    def label(self) -> str:
        """'quick (shipped, sha256 1a2b3c4d5e6f)': the name with where the file came from and its content hash."""
        return f"{self.name} ({self.origin}, sha256 {self.sha256[:12]})"

    @classmethod
    def load(cls, name_or_path: str) -> Suite:
        """A shipped suite by name ('quick', 'standard', 'gpu') or a TOML file path."""
        if name_or_path in SUITES:
            text = (resources.files("harness.app") / "suites" / f"{name_or_path}.toml").read_text()
            name, origin = name_or_path, "shipped"
        else:
            path = Path(name_or_path)
            if not path.is_file():
                raise ValueError(f"unknown suite {name_or_path!r}; shipped: {', '.join(SUITES)}, or a TOML file path")
            text, name, origin = path.read_text(), path.stem, str(path.resolve())
        try:
            raw = tomllib.loads(text)
        except tomllib.TOMLDecodeError as err:
            raise ValueError(f"suite {name}: invalid TOML: {err}") from err
        suite = cls.from_dict(name, raw)
        return replace(suite, sha256=hashlib.sha256(text.encode()).hexdigest(), origin=origin)

    @classmethod
    def from_dict(cls, name: str, raw: dict) -> Suite:
        unknown = set(raw) - {"description", "data", "estimate", "search"}
        if unknown:
            raise ValueError(
                f"suite {name}: unknown section(s) {', '.join(sorted(unknown))}; allowed: data, estimate, search"
            )
        data = raw.get("data", {})
        tables = tuple(CsvTable(t["path"], t["preset"]) for t in data.get("csv", []))
        estimate = tuple(
            EstimateStep(
                _strings(s.get("estimators"), "estimate.estimators"),
                _strings(s.get("datasets"), "estimate.datasets"),
                str(s.get("archs", "200")),
                tuple(s.get("seeds", [0])),
                dict(s.get("options", {})),
            )
            for s in raw.get("estimate", [])
        )
        search = tuple(
            SearchStep(
                _strings(s.get("searchers"), "search.searchers"),
                _strings(s.get("estimators"), "search.estimators"),
                _strings(s.get("datasets"), "search.datasets"),
                tuple(s.get("budgets", [])),
                s.get("seeds", 0),
                dict(s.get("options", {})),
                s.get("queries"),
            )
            for s in raw.get("search", [])
        )
        digest = hashlib.sha256(json.dumps(raw, sort_keys=True, default=str).encode()).hexdigest()
        return cls(name, raw.get("description", ""), tables, data.get("images"), estimate, search, digest, "dict")

    def images_root(self) -> Path | None:
        """Image folder for live estimators: $BPEBENCH_DATA_ROOT, else the suite's folder in the shared data, else the
        datasets `bpebench data fetch` downloaded."""
        if os.environ.get(paths.DATA_ROOT_ENV):
            return Path(paths.data_root())
        if self.images is None:
            return None
        shared = paths.shared_data_dir() / self.images
        return shared if shared.exists() or not paths.fetched_data_dir().is_dir() else paths.fetched_data_dir()


def record_path(suite: Suite) -> Path:
    """Where a suite run leaves its record (what ran, under which keys, what was skipped, provenance), keyed by the
    suite's name and file content: a user's `quick.toml` never overwrites the shipped quick suite's record."""
    return paths.cache_dir() / "suites" / f"{suite.name}-{suite.sha256[:16]}.json"


def read_record(suite: Suite) -> dict:
    path = record_path(suite)
    if not path.exists():
        command = suite.name if suite.origin == "shipped" else suite.origin
        raise ValueError(f"no stored run of suite {suite.label} at {path}; run `bpebench suite {command}` first")
    return json.loads(path.read_text())


def write_record(suite: Suite, record: dict) -> Path:
    return records.write_atomic(record_path(suite), json.dumps(record, indent=2, sort_keys=True) + "\n")


def stored_records() -> list[Path]:
    """Every stored suite record: the shipped suites' current files first (in `SUITES` order), then the others."""
    shipped = [record_path(Suite.load(name)) for name in SUITES]
    stored = sorted((paths.cache_dir() / "suites").glob("*.json"))
    return [p for p in shipped if p.exists()] + [p for p in stored if p not in shipped]
