"""A MIP experiment end to end: the BPE objective through the results store, MIP, random search, baselines."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace

import numpy as np

import estimators
from harness import metrics, network
from harness.checks import require_choice, require_number
from harness.datasets import NUM_CLASSES, TRAIN_IMAGES, eval_images, eval_splits
from harness.estimation import Estimation, Estimator, Execution
from harness.evaluate import Target, select_archs
from harness.groundtruth import GroundTruth, schema
from harness.store import Store
from harness.stored import run_stored
from harness.train import BPE, PASSES_PER_IMAGE, PRESETS
from searchers.mip.cost import CostModel, macs_rates
from searchers.mip.search import Measurement, MIPSettings, SearchResult, Trial, choose, random_search, run_mip
from searchers.mip.space import BPESpace, Config

METRICS: tuple[str, ...] = ("kendall", "spearman")
UNITS: tuple[str, ...] = ("seconds", "macs")
REFERENCE_ARCHS = 5
"""Archs of the sample whose mean FLOPs the cost model uses."""
PAPER_PRESETS: tuple[str, ...] = ("bpe1", "bpe2")


@dataclass(frozen=True)
class EstimatorObjective:
    """Rank agreement and measured cost of the estimator `make(config)` builds, on a fixed arch sample, computed only
    where not stored.

    `metric`: 'kendall' (tau) or 'spearman' (rho, the BPE paper's). `unit`: cost charged as measured 'seconds' on
    the device the units ran on, or 'macs': training plus evaluation multiply-adds relative to `full_macs` (full
    NB201 training of the same archs). With `store`, results go through `run_stored`; without, the estimator keeps its
    own store (as `bpe` does, storing each arch as it finishes). Archs left without a result (errors, not failed
    trainings) raise: a rerun retries them.
    """

    make: Callable[[Config], Estimator]
    dataset: str
    archs: np.ndarray
    truth: np.ndarray
    seed: int = 0
    store: Store | None = None
    metric: str = "kendall"
    unit: str = "seconds"
    full_macs: float | None = None

    def __post_init__(self) -> None:
        require_choice("EstimatorObjective", "metric", self.metric, METRICS)
        require_choice("EstimatorObjective", "unit", self.unit, UNITS)
        if self.unit == "macs" and not (self.full_macs and self.full_macs > 0):
            raise ValueError("EstimatorObjective with unit 'macs' needs full_macs > 0 (full training's multiply-adds)")

    def __call__(self, config: Config) -> Measurement:
        estimation = self._estimate(config)
        prepared = metrics.prepare(estimation.scores, self.truth)
        rank = metrics.kendall_tau if self.metric == "kendall" else metrics.spearman
        value = rank(prepared.scores, prepared.truth)
        seconds = float(np.nansum(estimation.costs))
        macs = float(np.nansum(estimation.train_macs) + np.nansum(estimation.eval_macs))
        extra = {
            "store_key": estimation.metadata.get("key", estimation.metadata.get("store_key")),
            "computed": estimation.metadata["computed"],
            "failed": prepared.n_failed,
            "seconds": seconds,
            "device": estimation.device,
            "macs": macs,
        }
        cost = seconds if self.unit == "seconds" else macs / float(self.full_macs)
        return Measurement(value, cost, estimation.metadata["computed"] == 0, extra)

    def rank_report(self, config: Config, n_boot: int = 1000) -> dict:
        """Every rank metric of `config`'s scores, with bootstrap CIs (read from the store once evaluated)."""
        estimation = self._estimate(config)
        return metrics.rank_report(estimation.scores, self.truth, n_boot=n_boot, seed=self.seed).to_dict()

    def _estimate(self, config: Config) -> Estimation:
        estimator = self.make(config)
        if self.store is not None:
            estimation = run_stored(estimator, self.store, self.dataset, self.archs, self.seed)
        else:
            estimation = estimator.estimate(self.archs, self.dataset, self.seed)
        missing = int(np.isnan(estimation.costs).sum())
        if missing:
            failures = estimation.metadata.get("failures") or [{"reason": "no result"}]
            raise ValueError(
                f"{missing} of {len(self.archs)} archs could not be evaluated under {config} (first error: "
                f"{failures[0]['reason']}); rerun to retry them (stored results are kept)"
            )
        return estimation


@dataclass(frozen=True)
class MIPExperiment:
    """What a `bpebench mip` run compares: MIP and random search over one space at one budget, plus baselines."""

    space: str = "cpu"
    """'cpu', 'gpu' or a TOML file."""
    dataset: str = "cifar10-valid"
    archs: str = "50"
    """`select_archs` spec: a sample size of unique archs, 'unique', 'all' or indices."""
    seed: int = 0
    """Seed of the arch sample, the training runs and MIP's sampling."""
    budget: float = 3000.0
    """Measured cost per method, in `unit`."""
    unit: str = "seconds"
    """'seconds' (measured on the device) or 'macs' (multiply-adds relative to full NB201 training)."""
    metric: str = "kendall"
    mode: str = "learn"
    per_iteration: int = 8
    beta: float = 0.5
    importance: str = "fanova"
    n_trees: int = 32
    resamples: int = 12
    confidence: float = 0.8
    choice: str = "model"
    fresh_archs: int = 50
    """Unique archs, none of the search's, the chosen configs are re-scored on (0 = not re-scored)."""
    cost_cap: float | None = None
    """Chosen BPE = highest tau among configs costing at most this many seconds (None: no cap)."""
    eval_split: str = "x-valid"
    """Split the BPE scores archs on (its held-out accuracy); the target is separate."""
    target: str | None = None
    random_search: bool = True
    presets: tuple[str, ...] = PAPER_PRESETS
    """BPE presets evaluated as baselines when predicted to cost at most `budget`."""

    def __post_init__(self) -> None:
        BPESpace.load(self.space)
        schema.check_dataset(self.dataset)
        self.settings  # noqa: B018 (validates budget, mode, per_iteration, beta, importance, n_trees, ..., seed)
        require_choice("MIPExperiment", "unit", self.unit, UNITS)
        require_choice("MIPExperiment", "metric", self.metric, METRICS)
        if not isinstance(self.fresh_archs, int) or self.fresh_archs < 0:
            raise ValueError(f"MIPExperiment.fresh_archs = {self.fresh_archs!r} is invalid: must be an int >= 0")
        seconds = "a number > 0 (in the budget's unit) or None"
        require_number("MIPExperiment", "cost_cap", self.cost_cap, 0, low_open=True, optional=True, allowed=seconds)
        if self.eval_split not in eval_splits(self.dataset):
            allowed = list(eval_splits(self.dataset))
            raise ValueError(f"eval_split {self.eval_split!r} is invalid for {self.dataset}: allowed {allowed}")
        Target.parse(self.target, self.dataset)

        unknown = [p for p in self.presets if p not in PRESETS]
        if unknown:
            raise ValueError(f"unknown BPE preset(s) {unknown}; available: {', '.join(PRESETS)}")

    @property
    def settings(self) -> MIPSettings:
        return MIPSettings(
            self.budget,
            self.mode,
            self.per_iteration,
            self.beta,
            self.importance,
            self.n_trees,
            self.resamples,
            self.confidence,
            self.choice,
            self.seed,
        )

    def to_dict(self) -> dict:
        return asdict(self) | {"presets": list(self.presets)}


def run_experiment(
    experiment: MIPExperiment,
    gt: GroundTruth,
    execution: Execution,
    log: Callable[[str], None] = print,
) -> dict:
    """Run MIP, random search and the baselines (trained as `execution` says); return the run record (JSON-ready)."""

    start = time.perf_counter()
    space = BPESpace.load(experiment.space)
    archs = select_archs(experiment.archs, gt, seed=experiment.seed)
    target = Target.parse(experiment.target, experiment.dataset)
    truth = target.values(gt, experiment.dataset)[archs]

    def make(config: Config) -> Estimator:
        return estimators.create(
            "bpe",
            gt,
            config=BPE(**config),
            execution=execution,
            eval_split=experiment.eval_split,
            curve=False,
        )

    full = float(full_macs(gt, archs, experiment.dataset).sum())
    units = {"metric": experiment.metric, "unit": experiment.unit, "full_macs": full}
    objective = EstimatorObjective(make, experiment.dataset, archs, truth, experiment.seed, **units)
    cost_model = CostModel(
        tuple(gt.arch_strings[a] for a in archs[:REFERENCE_ARCHS]),
        NUM_CLASSES[experiment.dataset],
        TRAIN_IMAGES[experiment.dataset],
        eval_images(experiment.dataset, experiment.eval_split),
        len(archs),
        evaluate_every_epoch=False,
    )
    if experiment.unit == "macs":
        cost_model = replace(cost_model, rates=macs_rates(full), prior=macs_rates(full))
    unit = "s" if experiment.unit == "seconds" else "x full"

    def report(label: str) -> Callable[[Trial], None]:
        def on_trial(trial: Trial) -> None:
            state = "stored" if trial.reused else "computed"
            log(
                f"[{label}] {BPE(**trial.config).describe()}: {experiment.metric} {trial.tau:.3f}, cost "
                f"{trial.cost:.4g} {unit} (predicted {trial.predicted_cost:.4g} {unit}, {state})"
            )

        return on_trial

    mip = run_mip(space, objective, cost_model, experiment.settings, report("mip"))
    rs = None
    if experiment.random_search:
        rs = random_search(
            space, objective, cost_model, experiment.budget, experiment.seed, report("random"), calibration=mip.trials
        )
    fresh = None
    if experiment.fresh_archs:
        fresh_sample = fresh_archs(gt, archs, experiment.fresh_archs, experiment.seed)
        fresh_full = float(full_macs(gt, fresh_sample, experiment.dataset).sum())
        fresh_truth = target.values(gt, experiment.dataset)[fresh_sample]
        fresh = EstimatorObjective(
            make, experiment.dataset, fresh_sample, fresh_truth, experiment.seed, **(units | {"full_macs": fresh_full})
        )
    fitted = (rs or mip).cost_model
    presets = [
        _preset(name, PRESETS[name].to_dict(), objective, fitted, experiment.budget) for name in experiment.presets
    ]
    record = {
        "format": "bpebench-mip",
        "version": 2,
        "experiment": experiment.to_dict(),
        "space": space.to_dict(),
        "archs": archs.tolist(),
        "fresh_archs": fresh.archs.tolist() if fresh else [],
        "target": str(target),
        "store": str(getattr(execution.store, "path", execution.store)),
        "mip": mip.to_dict(),
        "random_search": rs.to_dict() if rs else None,
        "chosen": {
            "mip": _chosen(mip, objective, fresh, experiment.cost_cap),
            "random_search": _chosen(rs, objective, fresh, experiment.cost_cap) if rs else None,
        },
        "baselines": [*presets, _tabular(gt, experiment.dataset, archs, truth, experiment.seed)],
        "wall_seconds": time.perf_counter() - start,
    }
    return record


def fresh_archs(gt: GroundTruth, used: np.ndarray, n: int, seed: int) -> np.ndarray:
    """`n` unique archs (one per isomorphism class) none of which is in `used`, sampled with `seed` + 1."""
    pool = select_archs(str(n + len(used)), gt, seed=seed + 1)
    kept = np.array([a for a in pool if a not in set(used.tolist())], dtype=np.int64)[:n]
    if len(kept) < n:
        raise ValueError(f"could not draw {n} fresh archs outside the {len(used)} searched")
    return kept


def full_macs(gt: GroundTruth, archs: np.ndarray, dataset: str) -> np.ndarray:
    """Training multiply-adds of each arch under the full NB201 protocol on `dataset`'s train split."""
    full = PRESETS["nb201"]
    forward = np.array(
        [
            network.flops(gt.arch_strings[a], full.channels, full.cells, NUM_CLASSES[dataset], full.resolution)
            for a in archs
        ]
    )
    return forward * 1e6 * TRAIN_IMAGES[dataset] * full.epochs * PASSES_PER_IMAGE


def _chosen(
    search: SearchResult, objective: EstimatorObjective, fresh: EstimatorObjective | None, cost_cap: float | None
) -> dict | None:
    """The search's chosen trial (the best measured under `cost_cap` when one is set), with its rank report on the
    searched archs and, when `fresh` is given, its measurement and rank report there (free of the winner's curse)."""
    trial = choose(search.trials, cost_cap) if cost_cap is not None else search.chosen
    if trial is None:
        return None
    entry = trial.to_dict() | {"report": objective.rank_report(trial.config)}
    if fresh is not None:
        measured = fresh(trial.config)
        entry["fresh"] = {"tau": measured.tau, "cost": measured.cost, "report": fresh.rank_report(trial.config)}
    return entry


def _preset(name: str, config: Config, objective: EstimatorObjective, model: CostModel, budget: float) -> dict:
    predicted = model.predict(config)
    entry = {"name": name, "config": config, "predicted_cost": predicted}
    if predicted > budget:
        return entry | {"tau": None, "cost": None, "note": f"not run: predicted {predicted:.4g} > budget"}
    measured = objective(config)
    report = objective.rank_report(config)
    return entry | {"tau": measured.tau, "cost": measured.cost, "report": report, **measured.extra}


def _tabular(gt: GroundTruth, dataset: str, archs: np.ndarray, truth: np.ndarray, seed: int) -> dict:
    """The recorded 12-epoch schedule as a baseline (its cost is NB201's recorded GPU seconds, not ours)."""
    entry: dict = {"name": "tabular-hp12"}
    try:
        estimation = estimators.create("tabular-hp12", gt).estimate(archs, dataset, seed)
    except ValueError as err:
        return entry | {"tau": None, "note": f"not available: {err}"}
    prepared = metrics.prepare(estimation.scores, truth)
    full = float(np.nansum(gt.train_seconds(dataset, hp=200)[archs]))
    cost = float(np.nansum(estimation.costs))
    return entry | {
        "tau": metrics.kendall_tau(prepared.scores, prepared.truth),
        "report": metrics.rank_report(estimation.scores, truth, seed=seed).to_dict(),
        "cost_seconds": cost,
        "cost_unit": "NB201's recorded GPU training seconds",
        "fraction_of_full_cost": cost / full if full > 0 and math.isfinite(full) else None,
    }
