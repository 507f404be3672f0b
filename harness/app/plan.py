"""What a suite or a command would run, skip and why, and about how long: the cost model, before any work starts.

Live training is estimated with `searchers.mip.cost.CostModel` at its prior rates (seconds per multiply-add and per
optimizer step, measured on one CPU core), divided over the worker processes; table reads take seconds and are shown
as such. Estimates are order-of-magnitude figures for deciding whether to start, not measurements.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

import estimators
import searchers
from harness.app.search_runs import SearchSpec
from harness.app.suite import Suite
from harness.app.suite_run import FETCH_IMAGES, NO_IMAGES
from harness.datasets import NUM_CLASSES, TRAIN_IMAGES, eval_images, eval_splits
from harness.estimation import Execution, check_ready
from harness.evaluate import select_archs
from harness.groundtruth import GroundTruth
from harness.records import fmt_seconds
from harness.registry import Entry
from harness.train import BPE

REFERENCE_ARCHS = 8
"""Archs of a sample whose mean multiply-adds stand for it in the cost model."""
SEARCH_SAMPLE = 20
"""Archs whose mean predicted cost stands for a search's queried archs."""
TABLE = "seconds (table reads)"


def bpe_seconds(config: BPE, dataset: str, arch_strings: list[str], eval_split: str = "x-valid") -> float:
    """Predicted seconds to train and evaluate every arch of `arch_strings` under `config` on one CPU core."""
    from searchers.mip.cost import CostModel

    split = eval_split if eval_split in eval_splits(dataset) else eval_splits(dataset)[0]
    model = CostModel(
        reference_archs=tuple(arch_strings[:REFERENCE_ARCHS]),
        num_classes=NUM_CLASSES[dataset],
        train_images=TRAIN_IMAGES[dataset],
        eval_images=eval_images(dataset, split),
        n_archs=len(arch_strings),
    )
    return model.predict(config.to_dict())


def describe_seconds(seconds: float | None, workers: int = 1) -> str:
    """'about 2.1 h on 2 CPU workers' from one-core seconds; the table-read wording for None; NaN: not modelled."""
    if seconds is None:
        return TABLE
    if math.isnan(seconds):
        return "not modelled (live: trains or runs networks)"
    return f"about {fmt_seconds(seconds / max(1, workers))} on {workers} CPU worker{'s' * (workers > 1)}"


def search_seconds(spec: SearchSpec, gt: GroundTruth, seeds: int) -> float | None:
    """Predicted one-core seconds of `seeds` searches of `spec` (a `SearchSpec`); None for table estimators, NaN
    where no model applies (zero-cost proxies). DARTS' budget is its wall time: budget x seeds."""
    if searchers.entry(spec.searcher).live:
        return spec.budget * seeds
    if not spec.live:
        return None
    options = dict(spec.estimator_options)
    seconds = _estimate_cost(estimators.entry(spec.estimator), options, gt, spec.dataset, str(SEARCH_SAMPLE), 0)
    if seconds is None or math.isnan(seconds):
        return seconds
    per_arch = seconds / SEARCH_SAMPLE
    return per_arch * min(spec.max_queries or math.inf, spec.budget / per_arch) * seeds


@dataclass(frozen=True)
class PlanRow:
    status: str
    """'run' or 'skip'."""
    what: str
    why: str
    enable: str
    seconds: float | None
    """Predicted one-core seconds (None: table reads, seconds at most)."""


def plan_suite(suite: Suite, gt: GroundTruth, data_root: str | None) -> list[PlanRow]:
    """Every entry of `suite`: would it run (each entry's check), and its predicted cost."""
    rows: list[PlanRow] = []
    for step in suite.estimate:
        for name, dataset, seed in itertools.product(step.estimators, step.datasets, step.seeds):
            what = f"{name} {step.options or ''} on {dataset} (seed {seed}), {step.archs} archs".replace("  ", " ")
            entry = estimators.entry(name)
            options = dict(step.options)
            if entry.live:
                options["execution"] = Execution(data_root)
                if data_root is None:  # as the suite run does: live entries need the suite's images
                    rows.append(PlanRow("skip", what, NO_IMAGES, FETCH_IMAGES, None))
                    continue
            rows.append(_row(what, lambda e=entry, o=options, d=dataset: check_ready(e.factory(gt, **o), d), data_root,
                             _estimate_cost(entry, options, gt, dataset, step.archs, seed)))  # fmt: skip
    for step in suite.search:
        for searcher, estimator, dataset, budget in itertools.product(
            step.searchers, step.estimators, step.datasets, step.budgets
        ):
            limit = " and ".join(
                ([f"budget {budget:g} s"] if math.isfinite(budget) else [])
                + ([f"{step.queries} archs"] if step.queries else [])
            )
            what = f"search {searcher} with {estimator} {step.options or ''} on {dataset}, {limit}, {step.seeds} seeds"
            entry = estimators.entry(estimator)
            options = dict(step.options) | ({"execution": Execution(data_root)} if entry.live else {})
            if entry.live and data_root is None:
                rows.append(PlanRow("skip", what.replace("  ", " "), NO_IMAGES, FETCH_IMAGES, None))
                continue
            seconds = _estimate_cost(entry, options, gt, dataset, str(SEARCH_SAMPLE), 0) if entry.live else None
            if seconds is not None and not math.isnan(seconds):
                per_arch = seconds / SEARCH_SAMPLE  # a search pays archs until its budget or query limit ends
                seconds = per_arch * min(step.queries or math.inf, budget / per_arch) * step.seeds

            def check(e=entry, o=options, d=dataset, s=searcher) -> None:
                check_ready(searchers.create(s), d)
                check_ready(e.factory(gt, **o), d)

            rows.append(_row(what.replace("  ", " "), check, data_root, seconds))
    return rows


def _estimate_cost(entry: Entry, options: dict, gt: GroundTruth, dataset: str, archs: str, seed: int) -> float | None:
    """One-core seconds of a live BPE estimator on the sample; None for table estimators, NaN for other live ones."""
    if entry.name != "bpe":
        return math.nan if entry.live else None
    config = options.get("config") or (BPE.from_preset(options["preset"]) if "preset" in options else BPE())
    sample = select_archs(archs, gt, seed=seed)
    return bpe_seconds(config, dataset, [gt.arch(int(a)) for a in np.asarray(sample)])


def _row(what: str, check, data_root: str | None, seconds: float | None) -> PlanRow:
    try:
        check()
    except ValueError as err:
        return PlanRow("skip", what, getattr(err, "missing", str(err)), getattr(err, "enable", "-"), None)
    return PlanRow("run", what, "", "", seconds)
