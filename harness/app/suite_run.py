"""Run a suite: merge the tables it needs, run every estimate and search step, say what was skipped and why."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import estimators
from harness import metrics, paths, records
from harness.app.search_runs import SearchSpec
from harness.app.search_runs import run as run_search
from harness.app.suite import EstimateStep, SearchStep, Suite, write_record
from harness.estimation import Execution
from harness.evaluate import Target, select_archs
from harness.groundtruth import GroundTruth, merge_into
from harness.groundtruth.sources.csv_table import PRESETS, CsvTableSource
from harness.store import Store
from harness.stored import estimator_key, run_stored

NO_IMAGES = f"no images: set {paths.SHARED_DATA_ENV} or {paths.DATA_ROOT_ENV} to a CIFAR-10 folder"


@dataclass
class SuiteRun:
    """What one suite run did: entries stored (with their store keys) and entries skipped (with reasons)."""

    suite: Suite
    entries: list[dict] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)

    def skip(self, what: str, reason: str) -> None:
        self.skipped.append({"what": what, "reason": reason})
        print(f"  skipped {what}: {reason}")


def run_suite(
    suite: Suite,
    gt_path: str | Path | None = None,
    store_path: str | Path | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
) -> dict:
    """Run `suite` (resuming from the store), write its record and return it."""
    run = SuiteRun(suite)
    print(f"suite {suite.name}: {suite.description}")
    gt = GroundTruth.open(gt_path)
    gt = _merge_tables(suite, gt, run)
    images = suite.images_root()
    data_root = str(images) if images is not None and images.exists() else None
    with gt, Store(store_path, compact_every=1000) as store:
        for step in suite.estimate:
            _run_estimate_step(step, gt, store, run, data_root, workers, scheduler)
        for step in suite.search:
            _run_search_step(step, gt, run, workers, data_root)
        record = {
            "suite": suite.name,
            "description": suite.description,
            "groundtruth": str(gt.path),
            "groundtruth_provenance": gt.provenance,
            "store": str(store.path),
            "provenance": records.collect(),
            "entries": run.entries,
            "skipped": run.skipped,
        }
    path = write_record(suite.name, record)
    print(f"suite {suite.name}: {len(run.entries)} entries stored, {len(run.skipped)} skipped; record at {path}")
    return record


def _merge_tables(suite: Suite, gt: GroundTruth, run: SuiteRun) -> GroundTruth:
    for table in suite.csv_tables:
        columns = PRESETS[table.preset]
        first = columns[0]
        if gt.has(first.dataset, first.split, first.metric, hp=_preset_hp(table.preset)):
            continue
        path = paths.shared_data_dir() / table.path
        if not path.exists():
            run.skip(f"table {table.path}", f"not found at {path} (set {paths.SHARED_DATA_ENV})")
            continue
        gt.close()
        merge_into(gt.path, CsvTableSource(path, key="arch", columns=columns, hp=_preset_hp(table.preset)))
        gt = GroundTruth.open(gt.path)
    return gt


def _preset_hp(preset: str) -> int:
    return int(preset.rpartition("hp")[2])


def _run_estimate_step(
    step: EstimateStep,
    gt: GroundTruth,
    store: Store,
    run: SuiteRun,
    data_root: str | None,
    workers: int | None,
    scheduler: str | None,
) -> None:
    for name, dataset, seed in itertools.product(step.estimators, step.datasets, step.seeds):
        what = f"{name} {step.options or ''} on {dataset} (seed {seed})".replace("  ", " ")
        entry = estimators.entry(name)
        options = dict(step.options)
        if entry.live:
            if data_root is None:
                run.skip(what, NO_IMAGES)
                continue
            options["execution"] = Execution(data_root, store, workers, scheduler)
        try:
            estimator = entry.factory(gt, **options)
            archs = select_archs(step.archs, gt, seed=seed)
            # table reads take milliseconds: only live results go through the store
            estimation = (
                run_stored(estimator, store, dataset, archs, seed)
                if entry.live
                else estimator.estimate(archs, dataset, seed)
            )
        except (ValueError, FileNotFoundError) as err:
            run.skip(what, str(err))
            continue
        target = Target.parse(None, dataset)
        truth = target.truth(gt, dataset, archs, estimation.reads)
        tau = metrics.kendall_tau(*_finite(estimation.scores, truth))
        cost = f"{np.nanmean(estimation.costs):.3g} s/arch on {estimation.device}"
        print(f"  {what}: n={len(archs)}, Kendall tau {tau:.3f} vs {target.describe(estimation.reads)}, {cost}")
        run.entries.append(
            {
                "kind": "estimate",
                "estimator": name,
                "options": step.options,
                "key": estimator_key(estimator),
                "dataset": dataset,
                "seed": seed,
                "archs": step.archs,
                "arch_list": archs.tolist(),
                "n": len(archs),
            }
        )


def _finite(scores: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    prepared = metrics.prepare(scores, truth)
    return prepared.scores, prepared.truth


def _run_search_step(
    step: SearchStep, gt: GroundTruth, run: SuiteRun, workers: int | None, data_root: str | None
) -> None:

    combos = itertools.product(step.searchers, step.estimators, step.datasets, step.budgets)
    for searcher, estimator, dataset, budget in combos:
        limits = [f"budget {budget:g} s"] if math.isfinite(budget) else []
        if step.queries:
            limits.append(f"{step.queries} archs")
        what = f"search {searcher} with {estimator} {step.options or ''} on {dataset}, {' and '.join(limits)}, "
        what += f"{step.seeds} seeds"
        what = what.replace("  ", " ")
        options = dict(step.options)
        if estimators.entry(estimator).live and data_root is None:
            run.skip(what, NO_IMAGES)
            continue
        try:
            spec = SearchSpec(
                searcher,
                estimator,
                dataset,
                float(budget),
                max_queries=step.queries,
                estimator_options=options,
                data_root=data_root,
            )
            report = run_search(spec, gt, list(range(step.seeds)), workers=workers or 1, progress=False)
        except ValueError as err:
            run.skip(what, str(err))
            continue
        summary = report.to_dict()
        print(f"  {what}: {summary['mean']:.2f} +- {summary['std']:.2f} ({summary['target']})")
        run.entries.append(
            {
                "kind": "search",
                "searcher": searcher,
                "estimator": estimator,
                "options": options,
                "dataset": dataset,
                "budget": float(budget) if math.isfinite(budget) else None,
                "queries": step.queries,
                "seeds": step.seeds,
                "protocol": spec.protocol,
                "log": str(spec.store_path(gt)),
            }
        )
