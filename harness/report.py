"""Leaderboard rows from stored results only: suite records + results store + search logs + ground truth."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

import estimators
from harness import metrics
from harness.evaluate import Target, select_archs
from harness.groundtruth import GroundTruth
from harness.store import Store
from harness.suite import SUITES, read_record, record_path

BOOTSTRAP = 1000


@dataclass(frozen=True)
class EstimatorRow:
    suite: str
    estimator: str
    options: str
    family: str
    dataset: str
    seed: int
    archs: str
    n: int
    n_failed: int
    kendall_tau: float
    tau_low: float
    tau_high: float
    spearman: float
    spearman_low: float
    spearman_high: float
    precision_at_5: float
    tau_top_5: float
    cost_per_arch_s: float
    total_cost_s: float


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
    mean_search_cost_s: float
    mean_queries: float
    target: str


@dataclass(frozen=True)
class SuiteReport:
    suite: str
    provenance: dict
    groundtruth_sources: list[str]
    estimators: list[EstimatorRow]
    searches: list[SearchRow]
    trajectories: dict
    """(searcher, estimator, dataset, budget) -> per-seed trajectories of (cost so far, best-so-far ground truth)."""
    skipped: list[dict]


def available_suites() -> list[str]:
    """Shipped suites that have a stored run."""
    return [s for s in SUITES if record_path(s).exists()]


def build_report(suite: str) -> SuiteReport:
    record = read_record(suite)
    with GroundTruth.open(record["groundtruth"], build=False) as gt, Store(record["store"], readonly=True) as store:
        rows = [_estimator_row(suite, e, gt, store) for e in record["entries"] if e["kind"] == "estimate"]
        searches, trajectories = [], {}
        for entry in (e for e in record["entries"] if e["kind"] == "search"):
            row, curves = _search_row(suite, entry, gt)
            searches.append(row)
            estimator = f"{row.estimator} ({row.options})" if row.options else row.estimator
            trajectories[(row.searcher, estimator, row.dataset, row.budget_s)] = curves
    sources = [p["source"] for p in record["groundtruth_provenance"]]
    return SuiteReport(suite, record["provenance"], sources, rows, searches, trajectories, record["skipped"])


def _estimator_row(suite: str, entry: dict, gt: GroundTruth, store: Store) -> EstimatorRow:
    wanted = set(select_archs(entry["archs"], gt, seed=entry["seed"]).tolist())
    table = store.results(entry["key"], entry["dataset"])
    rows = np.array([a in wanted and s == entry["seed"] for a, s in zip(table.arch, table.seed, strict=True)], bool)
    if not rows.any():
        raise ValueError(f"suite {suite}: no stored results for {entry['estimator']} on {entry['dataset']}")
    order = np.argsort(table.arch[rows], kind="stable")
    indices, scores, costs = (column[rows][order] for column in (table.arch, table.score, table.wall_seconds))
    truth = Target.parse(None, entry["dataset"]).values(gt, entry["dataset"])[indices]
    report = metrics.rank_report(scores, truth, n_boot=BOOTSTRAP, seed=0)
    return EstimatorRow(
        suite=suite,
        estimator=entry["estimator"],
        options=",".join(f"{k}={v}" for k, v in sorted(entry["options"].items())),
        family=estimators.entry(entry["estimator"]).family,
        dataset=entry["dataset"],
        seed=entry["seed"],
        archs=entry["archs"],
        n=report.n,
        n_failed=report.n_failed,
        kendall_tau=report.kendall_tau.value,
        tau_low=report.kendall_tau.low,
        tau_high=report.kendall_tau.high,
        spearman=report.spearman.value,
        spearman_low=report.spearman.low,
        spearman_high=report.spearman.high,
        precision_at_5=report.precision_at_5.value,
        tau_top_5=report.tau_top_5,
        cost_per_arch_s=float(np.nanmean(costs)),
        total_cost_s=float(np.nansum(costs)),
    )


def _search_row(suite: str, entry: dict, gt: GroundTruth) -> tuple[SearchRow, list]:
    from searchers.run import SearchSpec, run

    budget = math.inf if entry.get("budget") is None else entry["budget"]
    options = entry.get("options", {})
    spec = SearchSpec(
        entry["searcher"],
        entry["estimator"],
        entry["dataset"],
        budget,
        max_queries=entry.get("queries"),
        estimator_options=options,
    )
    log = spec.store_path(gt)
    stored = log.read_text().count("\n") if log.exists() else 0
    if stored < entry["seeds"]:
        raise ValueError(f"suite {suite}: only {stored} of {entry['seeds']} seeds of {spec.searcher} stored at {log}")
    report = run(spec, gt, list(range(entry["seeds"])), progress=False)  # every seed is stored: nothing runs
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
        options=",".join(f"{k}={v}" for k, v in sorted(options.items()) if k != "data_root"),
        dataset=spec.dataset,
        budget_s=spec.budget,
        queries=spec.max_queries,
        n=summary["n"],
        mean=summary["mean"],
        std=summary["std"],
        test_mean=summary.get("test_mean", float("nan")),
        test_std=summary.get("test_std", float("nan")),
        mean_search_cost_s=summary["mean_cost"],
        mean_queries=summary["mean_queries"],
        target=summary["target"],
    )
    return row, curves
