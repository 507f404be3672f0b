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
from harness.estimation import Execution, check_ready
from harness.evaluate import Target, select_archs
from harness.groundtruth import GroundTruth, merge_into
from harness.groundtruth.sources.csv_table import PRESETS, CsvTableSource
from harness.groundtruth.sources.packaged import PackagedHp12Source
from harness.store import Store
from harness.stored import estimator_key, run_stored

NO_IMAGES = "no CIFAR-10 images found"
FETCH_IMAGES = f"`bpebench data fetch cifar10`, or {paths.DATA_ROOT_ENV}=DIR holding CIFAR-10"
REASON_WIDTH = 90
"""Characters of a skip reason shown in the closing summary (the record keeps all of it)."""


@dataclass
class SuiteRun:
    """What one suite run did: entries stored (with their store keys) and entries skipped (with reasons)."""

    suite: Suite
    entries: list[dict] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)

    def skip(self, what: str, reason: str | Exception, enable: str | None = None) -> None:
        """Record a skipped entry: why, and the one step that would enable it (from an `Unavailable`)."""
        enable = enable or getattr(reason, "enable", None) or "-"
        reason = getattr(reason, "missing", None) or str(reason)
        self.skipped.append({"what": what, "reason": reason, "enable": enable})
        print(f"  skipped {what}: {reason}")

    def summary(self) -> str:
        """One table of every entry: ran or skipped, why, and the command that enables a skipped one."""
        rows = [("ran", e["what"], "", "") for e in self.entries]
        rows += [("skipped", s["what"], _clip(s["reason"]), s["enable"]) for s in self.skipped]
        header = ("status", "entry", "why", "enable with")
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
        lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in [header, *rows]]
        lines.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join(lines)


def _clip(text: str) -> str:
    return text if len(text) <= REASON_WIDTH else text[: REASON_WIDTH - 3] + "..."


def run_suite(
    suite: Suite,
    gt_path: str | Path | None = None,
    store_path: str | Path | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
) -> dict:
    """Run `suite` (resuming from the store), write its record and return it."""
    run = SuiteRun(suite)
    print(f"suite {suite.label}: {suite.description}")
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
            "suite_sha256": suite.sha256,
            "suite_file": suite.origin,
            "description": suite.description,
            "groundtruth": str(gt.path),
            "groundtruth_provenance": gt.provenance,
            "store": str(store.path),
            "provenance": records.collect(),
            "entries": run.entries,
            "skipped": run.skipped,
        }
    path = write_record(suite, record)
    print(f"\nsuite {suite.label}: {len(run.entries)} entries stored, {len(run.skipped)} skipped; record at {path}")
    print(run.summary())
    return record


def _merge_tables(suite: Suite, gt: GroundTruth, run: SuiteRun) -> GroundTruth:
    for table in suite.csv_tables:
        columns = PRESETS[table.preset]
        first = columns[0]
        if gt.has(first.dataset, first.split, first.metric, hp=_preset_hp(table.preset)):
            continue
        path = paths.shared_data_dir() / table.path
        if table.preset == "nb201-hp12":  # the same facts ship with the package
            source = PackagedHp12Source()
        elif path.exists():
            source = CsvTableSource(path, key="arch", columns=columns, hp=_preset_hp(table.preset))
        else:
            enable = f"`bpebench data add-csv FILE --preset {table.preset}`"
            run.skip(f"table {table.path}", f"not found at {path} (set {paths.SHARED_DATA_ENV})", enable)
            continue
        gt.close()
        merge_into(gt.path, source)
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
                run.skip(what, NO_IMAGES, FETCH_IMAGES)
                continue
            options["execution"] = Execution(data_root, store, workers, scheduler)
        try:
            estimator = entry.factory(gt, **options)
            check_ready(estimator, dataset)
            archs = select_archs(step.archs, gt, seed=seed)
            # table reads take milliseconds: only live results go through the store
            estimation = (
                run_stored(estimator, store, dataset, archs, seed)
                if entry.live
                else estimator.estimate(archs, dataset, seed)
            )
        except (ValueError, FileNotFoundError) as err:
            run.skip(what, err)
            continue
        target = Target.parse(None, dataset)
        truth = target.truth(gt, dataset, archs, estimation.reads)
        tau = metrics.kendall_tau(*_finite(estimation.scores, truth))
        cost = f"{np.nanmean(estimation.costs):.3g} s/arch on {estimation.device}"
        print(f"  {what}: n={len(archs)}, Kendall tau {tau:.3f} vs {target.describe(estimation.reads)}, {cost}")
        run.entries.append(
            {
                "what": what,
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
            run.skip(what, NO_IMAGES, FETCH_IMAGES)
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
            run.skip(what, err)
            continue
        summary = report.to_dict()
        print(f"  {what}: {summary['mean']:.2f} +- {summary['std']:.2f} ({summary['target']})")
        run.entries.append(
            {
                "what": what,
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
