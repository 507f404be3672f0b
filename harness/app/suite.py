"""Benchmark suites: TOML files listing estimator, search and MIP work, run through the resumable store."""

from __future__ import annotations

import hashlib
import inspect
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
            name, where, origin = name_or_path, f"suite {name_or_path}", "shipped"
        else:
            path = Path(name_or_path).expanduser()
            if not path.is_file():
                raise ValueError(f"unknown suite {name_or_path!r}; shipped: {', '.join(SUITES)}, or a TOML file path")
            try:
                text = path.read_text()
            except UnicodeDecodeError as err:
                raise ValueError(f"suite file {path} is not UTF-8 text: {err}") from err
            name, where, origin = path.stem, f"suite file {path}", str(path.resolve())
        try:
            raw = tomllib.loads(text)
        except tomllib.TOMLDecodeError as err:
            raise ValueError(f"{where}: invalid TOML: {err}") from err
        suite = cls.from_dict(name, raw, where)
        return replace(suite, sha256=hashlib.sha256(text.encode()).hexdigest(), origin=origin)

    @classmethod
    def from_dict(cls, name: str, raw: dict, where: str | None = None) -> Suite:
        """A suite from its parsed TOML; every section, step, key, type and name is checked before anything runs.

        Errors name `where` (the file), the step and the key.
        """
        where = where or f"suite {name}"
        _keys(raw, {"description", "data", "estimate", "search"}, where, "section")
        description = raw.get("description", "")
        if not isinstance(description, str):
            raise ValueError(f"{where}: description must be a string, got {description!r}")
        data = _table(raw.get("data", {}), f"{where}: [data]")
        _keys(data, {"csv", "images"}, f"{where}: [data]")
        tables = tuple(
            _csv_table(t, f"{where}: [data] csv entry {i + 1}") for i, t in enumerate(_steps(data, "csv", where))
        )
        images = data.get("images")
        if images is not None and not isinstance(images, str):
            raise ValueError(f"{where}: [data] key 'images' must be a folder name (a string), got {images!r}")
        estimate = tuple(
            _estimate_step(s, f"{where}: [[estimate]] step {i + 1}")
            for i, s in enumerate(_steps(raw, "estimate", where))
        )
        search = tuple(
            _search_step(s, f"{where}: [[search]] step {i + 1}") for i, s in enumerate(_steps(raw, "search", where))
        )
        digest = hashlib.sha256(json.dumps(raw, sort_keys=True, default=str).encode()).hexdigest()
        return cls(name, description, tables, images, estimate, search, digest, "dict")

    def images_root(self) -> Path | None:
        """Image folder for live estimators: $BPEBENCH_DATA_ROOT, else the suite's folder in the shared data, else the
        datasets `bpebench data fetch` downloaded."""
        if os.environ.get(paths.DATA_ROOT_ENV):
            return Path(paths.data_root())
        if self.images is None:
            return None
        shared = paths.shared_data_dir() / self.images
        return shared if shared.exists() or not paths.fetched_data_dir().is_dir() else paths.fetched_data_dir()


ESTIMATE_KEYS = {"estimators", "datasets", "archs", "seeds", "options"}
SEARCH_KEYS = {"searchers", "estimators", "datasets", "budgets", "seeds", "options", "queries"}


def _keys(table: dict, allowed: set[str], where: str, what: str = "key") -> None:
    if unknown := sorted(set(table) - allowed):
        raise ValueError(
            f"{where}: unknown {what}(s) {', '.join(map(repr, unknown))}; allowed: {', '.join(sorted(allowed))}"
        )


def _table(value: object, where: str) -> dict:
    if not isinstance(value, dict):
        raise ValueError(f"{where} must be a table, got {value!r}")
    return value


def _steps(raw: dict, section: str, where: str) -> list[dict]:
    steps = raw.get(section, [])
    if not isinstance(steps, list) or not all(isinstance(s, dict) for s in steps):
        raise ValueError(f"{where}: {section} must be an array of tables ([[{section}]] blocks), got {steps!r}")
    return steps


def _csv_table(raw: dict, where: str) -> CsvTable:
    from harness.groundtruth.sources.csv_table import PRESETS

    _keys(raw, {"path", "preset"}, where)
    for key in ("path", "preset"):
        if not isinstance(raw.get(key), str):
            raise ValueError(f"{where}: key {key!r} must be a string, got {raw.get(key)!r}")
    if raw["preset"] not in PRESETS:
        raise ValueError(f"{where}: unknown preset {raw['preset']!r}; allowed: {', '.join(sorted(PRESETS))}")
    return CsvTable(raw["path"], raw["preset"])


def _archs(value: object, where: str) -> str:
    """The step's arch selection as `select_archs` takes it: 'all', 'unique', a sample size or distinct indices."""
    text = str(value).strip() if is_int(value, 1) or isinstance(value, str) else None
    parts = text.split(",") if text is not None else []
    ok = text in ("all", "unique") or (
        text is not None and all(p.strip().isdigit() for p in parts) and (len(parts) > 1 or int(parts[0]) >= 1)
    )
    if not ok:
        raise ValueError(
            f"{where}: key 'archs' must be 'all', 'unique', a sample size >= 1 or indices 'i,j,k', got {value!r}"
        )
    return text


def _options(raw: dict, names: tuple[str, ...], where: str) -> dict:
    """The step's estimator options, checked against every estimator of the step (keys, types, presets)."""
    options = _table(raw.get("options", {}), f"{where}: key 'options'")
    if not options:
        return {}
    for name in names:
        entry = estimators.entry(name)
        parameters = inspect.signature(entry.factory).parameters
        takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
        allowed = {p for p in parameters if p not in ("gt", "config", "execution")}
        unknown = sorted(set(options) - allowed) if not takes_any else sorted(set(options) & {"config", "execution"})
        if unknown or entry.options is None:
            accepted = ", ".join(sorted(allowed)) or "none"
            raise ValueError(
                f"{where}: key 'options': {', '.join(map(repr, unknown or sorted(options)))} not taken by estimator "
                f"{name!r} (its options: {accepted})"
            )
        try:
            entry.factory(None, **options)  # builds the estimator's settings; nothing runs
        except (ValueError, TypeError) as err:
            raise ValueError(f"{where}: key 'options' for estimator {name!r}: {err}") from None
    return dict(options)


def _estimate_step(raw: dict, where: str) -> EstimateStep:
    _keys(raw, ESTIMATE_KEYS, where)
    names = _strings(raw.get("estimators"), f"{where}: key 'estimators'")
    seeds = raw.get("seeds", [0])
    if not isinstance(seeds, list) or not seeds or not all(is_int(v, 0) for v in seeds):
        raise ValueError(f"{where}: key 'seeds' must be a non-empty list of ints >= 0, got {seeds!r}")
    try:
        return EstimateStep(
            names,
            _strings(raw.get("datasets"), f"{where}: key 'datasets'"),
            _archs(raw.get("archs", "200"), where),
            tuple(seeds),
            _options(raw, names, where),
        )
    except ValueError as err:
        raise ValueError(str(err) if str(err).startswith(where) else f"{where}: {err}") from None


def _search_step(raw: dict, where: str) -> SearchStep:
    _keys(raw, SEARCH_KEYS, where)
    names = _strings(raw.get("estimators"), f"{where}: key 'estimators'")
    budgets = raw.get("budgets", [])
    if not isinstance(budgets, list) or not all(is_number(b, 0, low_open=True) for b in budgets):
        raise ValueError(f"{where}: key 'budgets' must be a list of positive numbers of seconds, got {budgets!r}")
    queries = raw.get("queries")
    if queries is not None and not is_int(queries, 1):
        raise ValueError(f"{where}: key 'queries' must be an int >= 1, got {queries!r}")
    seeds = raw.get("seeds", 0)
    if not is_int(seeds, 1):
        raise ValueError(f"{where}: key 'seeds' must be a number of seeds (an int >= 1), got {seeds!r}")
    try:
        return SearchStep(
            _strings(raw.get("searchers"), f"{where}: key 'searchers'"),
            names,
            _strings(raw.get("datasets"), f"{where}: key 'datasets'"),
            tuple(budgets),
            seeds,
            _options(raw, names, where),
            queries,
        )
    except ValueError as err:
        raise ValueError(str(err) if str(err).startswith(where) else f"{where}: {err}") from None


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
