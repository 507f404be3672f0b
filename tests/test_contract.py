"""The plugin contract: every registered estimator and every registered searcher through the same checks.

Parametrised over the registries, so a new entry is covered as soon as it registers. Live entries run tiny settings on
synthetic data (zero-cost proxies that need real images get conftest's tiny image folder); an entry that needs data the
embedded ground truth lacks (`needs`) runs where the reference data provides it, and is shown to fail with a
ValueError that names what is missing where it does not.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest

import estimators
import searchers
from estimators import zerocost
from harness import paths
from harness.checks import Unavailable
from harness.estimation import Estimation, Estimator, Execution, check_ready
from harness.registry import Entry
from harness.train import BPE
from searchers.base import Problem, Searcher, SearchResult
from searchers.darts import DartsConfig

pytestmark = pytest.mark.usefixtures("one_torch_thread")

ARCHS = np.array([0, 11, 284, 1000])
"""Asked for, in this order: a repeat-free mix of small and large cells."""
DATASET = "cifar10-valid"
TINY_BPE = BPE(epochs=1, batch_size=64, channels=2, cells=1, resolution=8, fraction=0.1)
TINY_ZEROCOST = {"channels": 4, "cells": 1, "batch_size": 8}
TINY_VOTE = "params,synflow"
"""Members of a vote here: a table read and a data-free proxy (the image proxies have their own entries)."""
TINY_DARTS = DartsConfig(
    BPE(epochs=2, batch_size=16, channels=4, cells=1, resolution=8, lr=0.025), synthetic=32, device="cpu"
)
BUDGET = 20_000.0
"""Seconds for the query searchers: about ten NB201 200-epoch trainings."""
SLOW_ESTIMATORS: set[str] = set()
SLOW_SEARCHERS: set[str] = set()
"""Entries whose contract test takes over ~5 s (marked slow); none at these settings: bpe trains 4 tiny nets in
~0.1 s, a tiny DARTS search takes under 0.5 s."""


def needs(entry: Entry) -> str | None:
    """What an entry reads beyond the embedded ground truth and synthetic data: 'hp12' (the 12-epoch table), 'curves'
    (stored learning curves: the reference curves CSV) or 'images' (a batch of real images); None: nothing."""
    if entry.name == "tabular-hp12":
        return "hp12"
    if entry.family == "curve":
        return "curves"
    if entry.family == "zerocost" and entry.name not in zerocost.DATA_FREE:
        return "images"
    return None


MISSING = {"hp12": r"hp=12", "curves": paths.SHARED_DATA_ENV, "images": paths.DATA_ROOT_ENV}
"""What the ValueError of an entry without its data names."""


def _marked(names: list[str], slow: set[str]) -> list:
    return [pytest.param(n, marks=pytest.mark.slow) if n in slow else n for n in names]


def options(entry: Entry, store: Path, data_root: str = paths.SYNTHETIC_ROOT) -> dict:
    """Factory options of a tiny run of `entry`: an `Execution` for live ones, plus their family's tiny settings."""
    if not entry.live:
        return {}
    chosen: dict = {"execution": Execution(data_root=data_root, store=store, workers=1, threads=1, progress=False)}
    if entry.family == "bpe":
        chosen["config"] = TINY_BPE
    elif entry.family == "zerocost":
        chosen |= TINY_ZEROCOST
    elif entry.family == "ensemble":
        chosen["members"] = TINY_VOTE
    return chosen


def build(entry: Entry, request: pytest.FixtureRequest, store: Path) -> Estimator:
    """`entry` built by the registry with the data it needs; skips where the reference data is absent."""
    need = needs(entry)
    gt = request.getfixturevalue("gt_hp12" if need == "hp12" else "gt")
    if need == "curves":
        request.getfixturevalue("shared_data")
    data_root = str(request.getfixturevalue("image_root")) if need == "images" else paths.SYNTHETIC_ROOT
    return estimators.create(entry.name, gt, **options(entry, store, data_root))


def check_estimation(result: Estimation, archs: np.ndarray) -> None:
    assert isinstance(result, Estimation)
    np.testing.assert_array_equal(result.archs, archs)
    for column in ("scores", "costs", "train_macs", "eval_macs"):
        assert np.shape(getattr(result, column)) == (len(archs),), f"{column}: one per arch"
    assert np.isfinite(result.scores).any(), "no arch got a score"
    assert not np.isinf(result.scores).any(), "a failed score is NaN, never inf"
    for column in ("costs", "train_macs", "eval_macs"):
        values = np.asarray(getattr(result, column), dtype=np.float64)
        assert np.all(np.isfinite(values)) and np.all(values >= 0), f"{column} must be finite and >= 0: {values}"
    assert isinstance(result.device, str) and result.device.strip()
    json.dumps(result.metadata)
    if result.reads is not None:
        assert len(result.reads.seeds) == len(archs)


@pytest.mark.parametrize("name", estimators.names())
def test_estimator_entry_is_described(name: str) -> None:
    entry = estimators.entry(name)
    assert entry.name == name and entry.summary, f"{name} needs a docstring summary"
    assert entry.family, f"{name} needs a family"
    if entry.options is not None:
        assert dataclasses.is_dataclass(entry.options), "an entry's options are a dataclass (the CLI reads its fields)"


@pytest.mark.parametrize("name", _marked(estimators.names(), SLOW_ESTIMATORS))
def test_estimator_contract(name: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    entry = estimators.entry(name)
    estimator = build(entry, request, tmp_path / "r.h5")
    assert isinstance(estimator, Estimator)
    assert estimator.name == name, "an estimator's name is its registry name"
    json.dumps(estimator.config)
    first = estimator.estimate(ARCHS, DATASET, seed=1)
    check_estimation(first, ARCHS)
    # the same seed gives the same scores; a live one is rebuilt on a fresh store so that it really runs again
    again = build(entry, request, tmp_path / "again.h5") if entry.live else estimator
    second = again.estimate(ARCHS, DATASET, seed=1)
    np.testing.assert_array_equal(second.scores, first.scores)
    if not entry.live:  # live costs are measured seconds
        np.testing.assert_array_equal(second.costs, first.costs)
    assert again.config == estimator.config


@pytest.mark.parametrize("name", [e.name for e in estimators.entries() if e.options is not None])
def test_estimator_takes_its_options_dataclass_as_config(name: str, gt, tmp_path: Path) -> None:
    entry = estimators.entry(name)
    assert entry.options is not None
    chosen = {k: v for k, v in options(entry, tmp_path / "r.h5").items() if k == "execution"}
    estimator = estimators.create(name, gt, config=entry.options(), **chosen)
    assert estimator.name == name
    json.dumps(estimator.config)


@pytest.mark.parametrize("name", [e.name for e in estimators.entries() if needs(e)])
def test_estimator_without_its_data_raises_a_clear_value_error(
    name: str, bare_gt, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    entry = estimators.entry(name)
    monkeypatch.setenv(paths.SHARED_DATA_ENV, str(tmp_path / "no-shared-data"))
    monkeypatch.setenv(paths.DATA_ROOT_ENV, str(tmp_path / "no-datasets"))
    root = str(tmp_path / "no-datasets")
    estimator = estimators.create(name, bare_gt, **options(entry, tmp_path / "r.h5", root))  # no 12-epoch table
    with pytest.raises(ValueError, match=MISSING[needs(entry)]):
        estimator.estimate(ARCHS, DATASET, seed=1)
    if hasattr(estimator, "check"):  # and the check says so before any work, with the step that fixes it
        with pytest.raises(Unavailable, match=MISSING[needs(entry)]) as info:
            check_ready(estimator, DATASET)
        assert info.value.enable.strip()


@pytest.fixture(scope="module")
def query_estimator(gt) -> Estimator:
    """A registered table estimator with per-trial data: searches take milliseconds."""
    return estimators.create("tabular-hp200-seed", gt)


def make_searcher(entry: Entry) -> Searcher:
    return (
        searchers.create(entry.name, config=TINY_DARTS) if entry.family == "supernet" else searchers.create(entry.name)
    )


def make_problem(entry: Entry, gt, estimator: Estimator) -> Problem:
    if entry.family == "supernet":  # trains its own supernet: the budget is wall-clock seconds
        return Problem(DATASET, 600.0, gt.arch_strings)
    return Problem(DATASET, BUDGET, gt.arch_strings, estimator, lookup=True)


@pytest.mark.parametrize("name", searchers.names())
def test_searcher_entry_is_described(name: str) -> None:
    entry = searchers.entry(name)
    assert entry.name == name and entry.summary, f"{name} needs a docstring summary"
    assert entry.family in ("query", "supernet"), f"{name}: family {entry.family!r} is neither query nor supernet"
    searcher = searchers.create(name)
    assert isinstance(searcher, Searcher) and searcher.name == name, "a searcher's name is its registry name"
    json.dumps(searcher.config)


@pytest.mark.parametrize("name", _marked(searchers.names(), SLOW_SEARCHERS))
def test_searcher_contract(name: str, gt, query_estimator: Estimator) -> None:
    entry = searchers.entry(name)
    searcher = make_searcher(entry)
    problem = make_problem(entry, gt, query_estimator)
    result = searcher.search(problem, seed=3)
    assert isinstance(result, SearchResult)
    num_archs = len(gt.arch_strings)
    assert isinstance(result.arch, int) and 0 <= result.arch < num_archs
    trajectory = result.trajectory
    assert len(trajectory) > 0
    for column in (trajectory.arch, trajectory.best):
        assert np.all((column >= 0) & (column < num_archs))
    assert np.all(np.isfinite(trajectory.cost)) and trajectory.cost[0] >= 0
    assert np.all(np.diff(trajectory.cost) >= 0), "the spent cost never decreases"
    assert math.isfinite(result.cost) and result.cost >= trajectory.cost[-1] - 1e-9
    assert isinstance(result.device, str) and result.device.strip()
    json.dumps(result.metadata)
    if entry.family == "query":
        assert result.cost <= problem.budget
    again = make_searcher(entry).search(problem, seed=3)
    assert again.arch == result.arch, "the same seed gives the same answer"
    np.testing.assert_array_equal(again.trajectory.arch, trajectory.arch)


@pytest.mark.parametrize("name", [e.name for e in searchers.entries() if e.family == "query"])
def test_query_searcher_without_an_estimator_raises_a_clear_value_error(name: str, gt) -> None:
    with pytest.raises(ValueError, match="estimator"):
        searchers.create(name).search(Problem(DATASET, BUDGET, gt.arch_strings), seed=0)
