"""Minimum Importance Pruning (MIP) over the BPE space (after Zheng et al., CVPR 2020), and random search at equal
budget. Budgets are charged the cost each evaluation *measured* (in the objective's unit: seconds on its device, or
training multiply-adds relative to full training); the cost model only decides which configs are affordable to draw.

Two modes (`MIPSettings.mode`):

- `learn` (default), one iteration at a time:
  1. draw a space-filling design of `per_iteration` unevaluated configs of the remaining space: a Latin hypercube
     over every free dimension, each point matched to the nearest budget-feasible candidate, with a mild cost bias
     (`beta`: candidates pay beta x 0.1 per standard deviation of log predicted cost above the pool's mean);
  2. evaluate them (rank agreement with ground truth on a fixed arch sample, and the measured cost);
  3. refit `resamples` random forests, each on a bootstrap resample of every trial so far (value positions -> tau),
     and compute each free dimension's importance on each: its fANOVA main-effect share of the forest's variance over
     the remaining space (`importance`), and its partial dependence (mean predicted tau at each of its values);
  4. once there are `min_trials` trials (2 per free dimension, plus 2), prune the least important free dimension d
     only if it has taken at least two values and its importance is
     confidently low: in at least `confidence` of the resamples it lies in the lower half of the free dimensions
     (with two free dimensions left: below the other one). d is fixed to the cheapest value among those not
     confidently worse than the best: values whose partial dependence reaches the best value's in at least
     1 - `confidence` of the resamples.
  The budget, not the number of dimensions, ends the run (or the remaining space running out). The chosen config is
  the evaluated one with the highest mean forest prediction (`choice="model"`; `"observed"`: highest measured tau);
  callers re-score it on a fresh arch sample, so its reported tau carries no winner's curse.
- `paper`: the published rule: per iteration `per_iteration` configs drawn with weight predicted cost ** -beta, the
  least important free dimension pruned every iteration (no confidence test; a dimension that never varied scores
  0) and fixed to its cheapest value; it stops once one dimension is left and evaluated.

Everything is seeded and depends only on measured values, so a rerun over a resumable objective re-proposes the same
configs, finds their results stored, and goes on where a killed run stopped.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from harness.checks import require_choice, require_int, require_number
from searchers.mip.cost import CostModel
from searchers.mip.design import stratified
from searchers.mip.space import DIMENSIONS, BPESpace, Config, config_key

MODES: tuple[str, ...] = ("learn", "paper")
IMPORTANCE_METHODS: tuple[str, ...] = ("fanova", "permutation", "impurity")
CHOICES: tuple[str, ...] = ("model", "observed")
COST_TIE = 0.05
"""Relative cost difference under which two values count as equally cheap (then the better partial tau wins)."""
POOL = 4096
"""Candidate configs drawn uniformly from the remaining space for one design."""
GRID = 256
"""Configs of the remaining space the forest is averaged over (fANOVA, partial dependence)."""
COST_BIAS_SCALE = 0.1
"""Design penalty per unit of beta per standard deviation of log predicted cost."""


@dataclass(frozen=True)
class MIPSettings:
    """How MIP searches: budget in measured cost units, mode, design size, cost bias, importance and its resampling."""

    budget: float
    mode: str = "learn"
    per_iteration: int = 8
    beta: float = 0.5
    """Cost bias: `learn` design penalty weight; `paper` sampling weight = predicted cost ** -beta (0 = none)."""
    importance: str = "fanova"
    n_trees: int = 32
    resamples: int = 12
    """Bootstrap resamples of the trials, one forest each (forest seeds differ too)."""
    confidence: float = 0.8
    choice: str = "model"
    seed: int = 0

    def __post_init__(self) -> None:
        finite = "a finite number > 0 (measured cost units)"
        require_number("MIPSettings", "budget", self.budget, 0, math.inf, low_open=True, high_open=True, allowed=finite)
        require_choice("MIPSettings", "mode", self.mode, MODES)
        for name in ("per_iteration", "n_trees", "resamples"):
            require_int("MIPSettings", name, getattr(self, name), minimum=1)
        require_number("MIPSettings", "beta", self.beta, 0, math.inf, high_open=True)
        require_choice("MIPSettings", "importance", self.importance, IMPORTANCE_METHODS)
        require_number("MIPSettings", "confidence", self.confidence, 0.5, 1)
        require_choice("MIPSettings", "choice", self.choice, CHOICES)
        require_int("MIPSettings", "seed", self.seed, minimum=0)


@dataclass(frozen=True)
class Measurement:
    """What the objective returns for one config: rank agreement (Kendall tau or Spearman rho) and measured cost."""

    tau: float
    cost: float
    reused: bool = False
    """True when every result came from the store (nothing was computed)."""
    extra: dict = field(default_factory=dict)


Objective = Callable[[Config], Measurement]


@dataclass(frozen=True)
class Trial:
    """One evaluated config."""

    config: Config
    tau: float
    cost: float
    predicted_cost: float
    iteration: int
    reused: bool = False
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "config": dict(self.config),
            "tau": self.tau,
            "cost": self.cost,
            "predicted_cost": self.predicted_cost,
            "iteration": self.iteration,
            "reused": self.reused,
            **self.extra,
        }


@dataclass(frozen=True)
class Iteration:
    """One MIP iteration: the configs it evaluated, the importances it found, the dimension it pruned (if any)."""

    index: int
    remaining: tuple[str, ...]
    """Dimensions still free at the start of the iteration."""
    trials: tuple[Trial, ...]
    importances: dict[str, float]
    """Mean importance over the resamples."""
    low_share: dict[str, float]
    """Share of resamples in which the dimension's importance lies in the lower half (`learn`)."""
    pruned: str | None
    fixed_to: Any
    spent: float

    def to_dict(self) -> dict:
        return {
            "index": self.index,
            "remaining": list(self.remaining),
            "configs": len(self.trials),
            "taus": [t.tau for t in self.trials],
            "best_tau": max((t.tau for t in self.trials if math.isfinite(t.tau)), default=math.nan),
            "cost": sum(t.cost for t in self.trials),
            "importances": self.importances,
            "low_share": self.low_share,
            "pruned": self.pruned,
            "fixed_to": self.fixed_to,
            "spent": self.spent,
        }


@dataclass(frozen=True)
class SearchResult:
    """The outcome of MIP or random search: every trial in evaluation order, the chosen one, and why it stopped."""

    method: str
    trials: tuple[Trial, ...]
    spent: float
    budget: float
    stop_reason: str
    cost_model: CostModel
    chosen: Trial | None = None
    iterations: tuple[Iteration, ...] = ()
    final_space: BPESpace | None = None

    def to_dict(self) -> dict:
        front = pareto_front(self.trials)
        return {
            "method": self.method,
            "budget": self.budget,
            "spent": self.spent,
            "stop_reason": self.stop_reason,
            "chosen": self.trials.index(self.chosen) if self.chosen else None,
            "trials": [t.to_dict() for t in self.trials],
            "iterations": [i.to_dict() for i in self.iterations],
            "pareto_front": [self.trials.index(t) for t in front],
            "final_space": self.final_space.to_dict() if self.final_space else None,
            "cost_model": self.cost_model.to_dict(),
        }


@dataclass(frozen=True)
class Analysis:
    """Forests on bootstrap resamples of the trials, read over the remaining space."""

    dims: tuple[str, ...]
    importances: np.ndarray
    """(resamples, dims) importance of each free dimension."""
    partial: dict[str, np.ndarray]
    """Per free dimension: (resamples, its remaining values) mean predicted tau at each value."""
    forests: tuple

    def mean_importance(self) -> dict[str, float]:
        return {d: float(v) for d, v in zip(self.dims, self.importances.mean(0), strict=True)}

    def low_share(self) -> dict[str, float]:
        """Share of resamples in which each dimension's importance is in the lower half of the free dimensions."""
        m = len(self.dims)
        if m < 2:
            return {d: 0.0 for d in self.dims}
        ranks = self.importances.argsort(1).argsort(1)  # 0 = least important in that resample
        low = ranks < max(1, m // 2)
        return {d: float(v) for d, v in zip(self.dims, low.mean(0), strict=True)}


def run_mip(
    space: BPESpace,
    objective: Objective,
    cost_model: CostModel,
    settings: MIPSettings,
    on_trial: Callable[[Trial], None] | None = None,
    candidates: Sequence[Config] | None = None,
) -> SearchResult:
    """MIP over `space` (or only its configs in `candidates`, e.g. a table's) under `settings.budget` measured cost."""
    rng = np.random.default_rng(settings.seed)
    remaining, trials, iterations = space, [], []
    spent, stop = 0.0, ""
    while not stop:
        index = len(iterations)
        model = _fitted(cost_model, trials)
        evaluated = {config_key(t.config) for t in trials}
        dims = remaining.varying
        pool = _pool(remaining, candidates, evaluated, rng)
        costs = np.array([model.predict(c) for c in pool])
        affordable = [i for i, c in enumerate(costs) if c <= settings.budget - spent]
        if not pool:
            stop = "remaining space evaluated"
            break
        if not affordable:
            stop = "no unevaluated config fits the budget left"
            break
        feasible, feasible_costs = [pool[i] for i in affordable], costs[affordable]
        if settings.mode == "learn":
            proposals = stratified(
                remaining, feasible, settings.per_iteration, rng, _cost_penalty(feasible_costs, settings.beta)
            )
        else:
            proposals = _cost_biased(feasible, feasible_costs, settings.per_iteration, settings.beta, rng)
        new: list[Trial] = []
        for config in proposals:
            predicted = model.predict(config)
            if predicted > settings.budget - spent:
                continue
            trial = _evaluate(objective, config, predicted, index)
            new.append(trial)
            spent += trial.cost
            if on_trial:
                on_trial(trial)
            if spent >= settings.budget:
                break
        trials.extend(new)
        analysis = analyse(space, remaining, trials, settings) if len(dims) >= 1 else None
        pruned, value = _prune(space, remaining, trials, analysis, _fitted(cost_model, trials), settings)
        importances = analysis.mean_importance() if analysis else {}
        low = analysis.low_share() if analysis else {}
        iterations.append(Iteration(index, dims, tuple(new), importances, low, pruned, value, spent))
        if pruned is not None:
            remaining = remaining.fix(pruned, value)
        if spent >= settings.budget:
            stop = "budget spent"
        elif settings.mode == "paper" and len(dims) <= 1:
            stop = "one dimension left" if dims else "every dimension fixed"
        elif not new:
            stop = "no unevaluated config fits the budget left"
    chosen = choose_trial(space, trials, settings)
    return SearchResult(
        f"mip-{settings.mode}",
        tuple(trials),
        spent,
        settings.budget,
        stop,
        _fitted(cost_model, trials),
        chosen,
        tuple(iterations),
        remaining,
    )


def random_search(
    space: BPESpace,
    objective: Objective,
    cost_model: CostModel,
    budget: float,
    seed: int = 0,
    on_trial: Callable[[Trial], None] | None = None,
    calibration: Sequence[Trial] = (),
    candidates: Sequence[Config] | None = None,
) -> SearchResult:
    """Uniformly random configs of `space` (or of `candidates`) until `budget` measured cost is spent (skipping those
    predicted to overrun); chosen = highest measured tau.

    `calibration`: trials measured elsewhere (e.g. MIP's) that only calibrate the cost model, never the choice.
    """
    MIPSettings(budget=budget, seed=seed)  # validates budget and seed
    rng = np.random.default_rng(seed)
    trials: list[Trial] = []
    spent = 0.0
    model = _fitted(cost_model, calibration)
    for config in _pool(space, candidates, set(), rng):
        predicted = model.predict(config)
        if predicted > budget - spent:
            continue
        trial = _evaluate(objective, config, predicted, 0)
        trials.append(trial)
        spent += trial.cost
        model = _fitted(cost_model, [*calibration, *trials])
        if on_trial:
            on_trial(trial)
        if spent >= budget:
            break
    stop = "budget spent" if spent >= budget else "no unevaluated config fits the budget left"
    return SearchResult("random", tuple(trials), spent, budget, stop, model, choose(trials))


def analyse(space: BPESpace, remaining: BPESpace, trials: Sequence[Trial], settings: MIPSettings) -> Analysis | None:
    """Importance and partial dependence of each free dimension of `remaining`, per bootstrap-resampled forest."""
    dims = remaining.varying
    if len(trials) < 3 or not dims:
        return None
    x, y = _design(space, trials)
    rng = np.random.default_rng(settings.seed + 7919 * len(trials))
    grid = _design(space, [Trial(c, 0.0, 0.0, 0.0, 0) for c in remaining.sample(GRID, rng)])[0]
    columns = space.varying
    importances = np.zeros((settings.resamples, len(dims)))
    partial = {d: np.zeros((settings.resamples, len(remaining.values[d]))) for d in dims}
    forests = []
    for b in range(settings.resamples):
        rows = rng.integers(0, len(y), len(y)) if settings.resamples > 1 else np.arange(len(y))
        forest = _forest(x[rows], y[rows], settings.n_trees, settings.seed * 1000 + b)
        forests.append(forest)
        probes, spans = [grid], []
        for dim in dims:
            column = columns.index(dim)
            for v in remaining.values[dim]:
                probe = grid.copy()
                probe[:, column] = space.values[dim].index(v)
                probes.append(probe)
            spans.append(len(remaining.values[dim]))
        predicted = forest.predict(np.concatenate(probes)).reshape(-1, len(grid)).mean(1)
        total = float(forest.predict(grid).var())
        offset = 1
        for j, dim in enumerate(dims):
            column = columns.index(dim)
            effect = predicted[offset : offset + spans[j]]
            offset += spans[j]
            partial[dim][b] = effect
            if settings.importance == "fanova":
                importances[b, j] = float(effect.var()) / total if total > 0 else 0.0
            elif settings.importance == "permutation":
                importances[b, j] = _permutation(forest, x, y, column, rng)
            else:
                importances[b, j] = float(forest.feature_importances_[column])
    return Analysis(dims, importances, partial, tuple(forests))


def choose_trial(space: BPESpace, trials: Sequence[Trial], settings: MIPSettings) -> Trial | None:
    """The evaluated config MIP picks: highest mean forest prediction over the resamples (`choice="model"`, with at
    least 3 trials), else the highest measured tau."""
    finite = [t for t in trials if math.isfinite(t.tau)]
    if settings.choice == "observed" or len(finite) < 3:
        return choose(finite)
    x, y = _design(space, trials)
    rng = np.random.default_rng(settings.seed + 104729)
    scores = np.zeros(len(trials))
    for b in range(settings.resamples):
        rows = rng.integers(0, len(y), len(y)) if settings.resamples > 1 else np.arange(len(y))
        scores += _forest(x[rows], y[rows], settings.n_trees, settings.seed * 1000 + b).predict(x)
    eligible = [i for i, t in enumerate(trials) if math.isfinite(t.tau)]
    return trials[max(eligible, key=lambda i: (scores[i], -trials[i].cost))]


def pareto_front(trials: Sequence[Trial]) -> list[Trial]:
    """Trials no other trial beats on both tau (higher) and cost (lower), cheapest first."""
    front: list[Trial] = []
    best = -math.inf
    for trial in sorted(trials, key=lambda t: (t.cost, -_tau(t))):
        if _tau(trial) > best:
            front.append(trial)
            best = _tau(trial)
    return front


def choose(trials: Sequence[Trial], cost_cap: float | None = None) -> Trial | None:
    """The trial with the highest tau among those costing at most `cost_cap` (None: no cap)."""
    allowed = [t for t in trials if math.isfinite(t.tau) and (cost_cap is None or t.cost <= cost_cap)]
    return max(allowed, key=lambda t: (t.tau, -t.cost), default=None)


def min_trials(free: int) -> int:
    """Trials `learn` mode needs before it prunes one of `free` dimensions: 2 per free dimension, plus 2."""
    return 2 * free + 2


# ---- internals


def _prune(
    space: BPESpace,
    remaining: BPESpace,
    trials: Sequence[Trial],
    analysis: Analysis | None,
    model: CostModel,
    settings: MIPSettings,
) -> tuple[str | None, Any]:
    """The dimension pruned this iteration and its value (None, None: none)."""
    dims = remaining.varying
    if analysis is None or len(dims) < 2:
        return None, None
    mean = analysis.mean_importance()
    if settings.mode == "paper":
        dim = min(dims, key=lambda d: (mean[d], DIMENSIONS.index(d)))
        return dim, _cheapest(remaining, dim, model, analysis, list(remaining.values[dim]), settings)
    varied = [d for d in dims if len({t.config[d] for t in trials}) >= 2]
    if not varied or len(trials) < min_trials(len(dims)):
        return None, None
    dim = min(varied, key=lambda d: (mean[d], DIMENSIONS.index(d)))
    if analysis.low_share()[dim] < settings.confidence:
        return None, None
    pd = analysis.partial[dim]
    best = int(pd.mean(0).argmax())
    reach = (pd >= pd[:, [best]]).mean(0)
    values = remaining.values[dim]
    near = [v for v, share in zip(values, reach, strict=True) if share >= 1 - settings.confidence]
    return dim, _cheapest(remaining, dim, model, analysis, near, settings)


def _cheapest(
    remaining: BPESpace, dim: str, model: CostModel, analysis: Analysis, values: list, settings: MIPSettings
) -> Any:
    """The cheapest of `values` over the remaining space; values within `COST_TIE` go to the best partial tau."""
    pool = remaining.sample(128, np.random.default_rng(settings.seed))
    costs = np.array([np.mean([model.predict({**c, dim: v}) for c in pool]) for v in values])
    tied = [v for v, c in zip(values, costs, strict=True) if c <= costs.min() * (1 + COST_TIE)]
    if len(tied) == 1:
        return tied[0]
    pd = analysis.partial[dim].mean(0)
    order = list(remaining.values[dim])
    return max(tied, key=lambda v: pd[order.index(v)])


def _pool(space: BPESpace, candidates: Sequence[Config] | None, evaluated: set[tuple], rng) -> list[Config]:
    """Unevaluated configs of `space`: all of `candidates` inside it (shuffled), or up to `POOL` drawn uniformly."""
    if candidates is None:
        drawn = space.sample(POOL, rng)
    else:
        drawn = [candidates[i] for i in rng.permutation(len(candidates))]
        drawn = [{d: c[d] for d in DIMENSIONS} for c in drawn if space.contains({d: c[d] for d in DIMENSIONS})]
    return [c for c in drawn if config_key(c) not in evaluated]


def _cost_penalty(costs: np.ndarray, beta: float) -> np.ndarray:
    logs = np.log(np.maximum(costs, 1e-12))
    spread = logs.std()
    return beta * COST_BIAS_SCALE * ((logs - logs.mean()) / spread if spread > 0 else np.zeros_like(logs))


def _cost_biased(pool: list[Config], costs: np.ndarray, n: int, beta: float, rng) -> list[Config]:
    """Up to `n` configs drawn without replacement with weight cost ** -beta (the paper's sampling)."""
    weights = np.maximum(costs, 1e-12) ** -beta
    picked = rng.choice(len(pool), size=min(n, len(pool)), replace=False, p=weights / weights.sum())
    return [pool[i] for i in picked]


def _forest(x: np.ndarray, y: np.ndarray, n_trees: int, seed: int):
    from sklearn.ensemble import RandomForestRegressor

    return RandomForestRegressor(n_estimators=n_trees, min_samples_leaf=1, max_features=1.0, random_state=seed).fit(
        x, y
    )


def _permutation(forest, x: np.ndarray, y: np.ndarray, column: int, rng: np.random.Generator) -> float:
    """Rise in the forest's squared error on the trials when `column` is shuffled (mean of 5 shuffles)."""
    base = float(((forest.predict(x) - y) ** 2).mean())
    rises = []
    for _ in range(5):
        probe = x.copy()
        probe[:, column] = rng.permutation(probe[:, column])
        rises.append(float(((forest.predict(probe) - y) ** 2).mean()) - base)
    return max(0.0, float(np.mean(rises)))


def _tau(trial: Trial) -> float:
    return trial.tau if math.isfinite(trial.tau) else 0.0


def _design(space: BPESpace, trials: Sequence[Trial]) -> tuple[np.ndarray, np.ndarray]:
    columns = space.varying
    x = np.array([space.encode(t.config, columns) for t in trials], dtype=np.float64).reshape(len(trials), len(columns))
    return x, np.array([_tau(t) for t in trials])


def _fitted(model: CostModel, trials: Sequence[Trial]) -> CostModel:
    return model.fit([t.config for t in trials], [t.cost for t in trials])


def _evaluate(objective: Objective, config: Config, predicted: float, iteration: int) -> Trial:
    measured = objective(dict(config))
    return Trial(dict(config), measured.tau, measured.cost, predicted, iteration, measured.reused, measured.extra)


__all__ = [
    "CHOICES",
    "IMPORTANCE_METHODS",
    "MODES",
    "Analysis",
    "Iteration",
    "MIPSettings",
    "Measurement",
    "SearchResult",
    "Trial",
    "analyse",
    "choose",
    "choose_trial",
    "pareto_front",
    "random_search",
    "run_mip",
]
