"""Leaderboard rows from stored results only: suite records + results store + search logs + ground truth."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import estimators
from harness import metrics
from harness.app.search_runs import SearchSpec, stored_report
from harness.app.suite import Suite, record_path, stored_records
from harness.estimation import Estimation
from harness.evaluate import Target, cost_summary, seed_vs_seed, select_archs
from harness.groundtruth import GroundTruth
from harness.store import Store
from harness.stored import stored_estimation

BOOTSTRAP = 1000
CEILING = "tabular-hp200-seed"
"""One seed of full training: the noise ceiling every estimator is drawn against."""


@dataclass(frozen=True)
class EstimatorRow:
    suite: str
    estimator: str
    options: str
    family: str
    dataset: str
    seed: int
    archs: str
    target: str
    """The ground truth ranked against; ':held-out' marks a target without the seeds the estimator read."""
    n: int
    n_failed: int
    kendall_tau: float
    tau_low: float
    tau_high: float
    spearman: float
    spearman_low: float
    spearman_high: float
    precision_at_5: float
    precision_at_5_low: float
    precision_at_5_high: float
    tau_top_5: float
    tau_top_5_low: float
    tau_top_5_high: float
    tau_top_10: float
    tau_top_10_low: float
    tau_top_10_high: float
    device: str
    """Where `seconds_per_arch` was spent: `nb201-gpu` (NB201's recorded GTX 1080 Ti times) or a measured device."""
    seconds_per_arch: float
    train_macs_per_arch: float
    eval_macs_per_arch: float


@dataclass(frozen=True)
class CeilingRow:
    """Two independent full trainings ranked against each other: the plainest noise ceiling."""

    suite: str
    dataset: str
    archs: str
    seeds: str
    n: int
    kendall_tau: float
    tau_low: float
    tau_high: float
    tau_top_10: float


@dataclass(frozen=True)
class SearchRow:
    suite: str
    searcher: str
    estimator: str
    options: str
    dataset: str
    budget_s: float
    queries: int | None
    """Paid archs after which each search ended (None: the budget alone)."""
    n: int
    mean: float
    std: float
    test_mean: float
    test_std: float
    protocol: str
    cost_device: str
    mean_search_cost_s: float
    """Seconds per search on `cost_device`."""
    mean_search_macs: float
    """Multiply-adds per search (training plus evaluation of the queried archs)."""
    mean_queries: float
    target: str
    optimum: float = math.nan
    """Best value of the target over all archs (91.61 on cifar10-valid): regret = optimum - mean, in points."""


@dataclass(frozen=True)
class SuiteReport:
    suite: str
    provenance: dict
    groundtruth_sources: list[str]
    estimators: list[EstimatorRow]
    ceilings: list[CeilingRow]
    searches: list[SearchRow]
    trajectories: dict
    """(searcher, estimator, dataset, budget) -> per-seed trajectories of (cost so far, best-so-far ground truth)."""
    skipped: list[dict]
    label: str = ""
    """Name, origin (shipped or the user's file) and content hash of the suite file."""


def available_suites() -> list[Path]:
    """Every stored suite record (`harness.app.suite.stored_records`)."""
    return stored_records()


def record_of(name_or_path: str) -> Path:
    """The record of a shipped suite's name or of a suite file, as its current content keys it."""
    return record_path(Suite.load(name_or_path))


def build_report(path: Path) -> SuiteReport:
    """The report of one stored suite record."""
    if not Path(path).exists():
        raise ValueError(f"no stored suite run at {path}; run the suite first (`bpebench suite NAME|FILE`)")
    record = json.loads(Path(path).read_text())
    suite = record["suite"]
    origin = record.get("suite_file", "shipped")
    label = f"{suite} ({origin}, sha256 {record['suite_sha256'][:12]})" if "suite_sha256" in record else suite
    with GroundTruth.open(record["groundtruth"], build=False) as gt, Store(record["store"], readonly=True) as store:
        estimates = [e for e in record["entries"] if e["kind"] == "estimate"]
        rows = [_estimator_row(suite, e, gt, store) for e in estimates]
        ceilings = [_ceiling_row(suite, e, gt) for e in estimates if e["estimator"] == CEILING]
        searches, trajectories = [], {}
        for entry in (e for e in record["entries"] if e["kind"] == "search"):
            row, curves = _search_row(suite, entry, gt)
            searches.append(row)
            estimator = f"{row.estimator} ({row.options})" if row.options else row.estimator
            trajectories[(row.searcher, estimator, row.dataset, row.budget_s)] = curves
    sources = [p["source"] for p in record["groundtruth_provenance"]]
    ceilings = [c for c in ceilings if c is not None]
    return SuiteReport(
        suite, record["provenance"], sources, rows, ceilings, searches, trajectories, record["skipped"], label
    )


def _estimation(entry: dict, gt: GroundTruth, store: Store) -> Estimation:
    """A stored live estimation, or a table estimator's, recomputed (milliseconds, and it says what it read)."""
    archs = np.asarray(entry["arch_list"], dtype=np.int64)
    registered = estimators.entry(entry["estimator"])
    if not registered.live:
        return registered.factory(gt, **entry["options"]).estimate(archs, entry["dataset"], entry["seed"])
    estimation = stored_estimation(store, entry["key"], entry["dataset"], archs, entry["seed"])
    if np.all(np.isnan(estimation.costs)):
        raise ValueError(f"suite: no stored results for {entry['estimator']} on {entry['dataset']}")
    return estimation


def _estimator_row(suite: str, entry: dict, gt: GroundTruth, store: Store) -> EstimatorRow:
    estimation = _estimation(entry, gt, store)
    target = Target.parse(None, entry["dataset"])
    truth = target.truth(gt, entry["dataset"], estimation.archs, estimation.reads)
    report = metrics.rank_report(estimation.scores, truth, n_boot=BOOTSTRAP, seed=0)
    cost = cost_summary(estimation)
    return EstimatorRow(
        suite=suite,
        estimator=entry["estimator"],
        options=",".join(f"{k}={v}" for k, v in sorted(entry["options"].items())),
        family=estimators.entry(entry["estimator"]).family,
        dataset=entry["dataset"],
        seed=entry["seed"],
        archs=entry["archs"],
        target=target.describe(estimation.reads),
        n=report.n,
        n_failed=report.n_failed,
        **_with_ci("kendall_tau", report.kendall_tau, "tau"),
        **_with_ci("spearman", report.spearman),
        **_with_ci("precision_at_5", report.precision_at_5),
        **_with_ci("tau_top_5", report.tau_top_5),
        **_with_ci("tau_top_10", report.tau_top_10),
        device=cost["device"],
        seconds_per_arch=cost["seconds_per_arch"],
        train_macs_per_arch=cost["train_macs_per_arch"],
        eval_macs_per_arch=cost["eval_macs_per_arch"],
    )


def _with_ci(name: str, estimate: metrics.Estimate, prefix: str | None = None) -> dict:
    prefix = prefix or name
    return {name: estimate.value, f"{prefix}_low": estimate.low, f"{prefix}_high": estimate.high}


def _ceiling_row(suite: str, entry: dict, gt: GroundTruth) -> CeilingRow | None:
    archs = select_archs(entry["archs"], gt, seed=entry["seed"])
    found = seed_vs_seed(gt, entry["dataset"], archs, Target.parse(None, entry["dataset"]), n_boot=BOOTSTRAP)
    if found is None:
        return None
    report, (a, b) = found
    return CeilingRow(
        suite,
        entry["dataset"],
        entry["archs"],
        f"{a} vs {b}",
        report.n,
        report.kendall_tau.value,
        report.kendall_tau.low,
        report.kendall_tau.high,
        report.tau_top_10.value,
    )


def _search_row(suite: str, entry: dict, gt: GroundTruth) -> tuple[SearchRow, list]:

    budget = math.inf if entry.get("budget") is None else entry["budget"]
    options = entry.get("options", {})
    spec = SearchSpec(
        entry["searcher"],
        entry["estimator"],
        entry["dataset"],
        budget,
        max_queries=entry.get("queries"),
        estimator_options=options,
        protocol=entry.get("protocol", "nb201"),
    )
    report = stored_report(spec, gt, Path(entry["log"]), list(range(entry["seeds"])))
    summary = report.to_dict()
    truth = Target.parse(None, entry["dataset"]).values(gt, entry["dataset"])
    curves = [
        (
            np.asarray(r["trajectory"]["cost"]).tolist(),
            truth[np.asarray(r["trajectory"]["best"], dtype=np.int64)].tolist(),
        )
        for r in report.records
    ]
    row = SearchRow(
        suite=suite,
        searcher=spec.searcher,
        estimator=spec.estimator or "",
        options=",".join(f"{k}={v}" for k, v in sorted(options.items())),
        dataset=spec.dataset,
        budget_s=spec.budget,
        queries=spec.max_queries,
        n=summary["n"],
        mean=summary["mean"],
        std=summary["std"],
        test_mean=summary.get("test_mean", float("nan")),
        test_std=summary.get("test_std", float("nan")),
        protocol=spec.protocol,
        cost_device=summary["cost_device"],
        mean_search_cost_s=summary["mean_cost"],
        mean_search_macs=summary["mean_macs"],
        mean_queries=summary["mean_queries"],
        target=summary["target"],
        optimum=float(np.nanmax(truth)),
    )
    return row, curves
