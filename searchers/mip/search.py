"""Minimum Importance Pruning (MIP) over the BPE space (Zheng et al., CVPR 2020), and random search at equal budget.

MIP, one iteration at a time:
1. sample `per_iteration` configs not yet evaluated from the remaining space, each with probability proportional
   to predicted cost ** -beta (cheap settings first; configs predicted to overrun the budget left are not drawn);
2. evaluate each with the objective (Kendall tau against ground truth on a fixed arch sample, and its cost);
3. fit a random forest on every config evaluated so far (value positions per dimension -> tau) and score each
   remaining dimension's importance (fANOVA by default; impurity or permutation importance as options);
4. prune the least important dimension: fix it to its cheapest value (by the cost model fitted on the measured
   costs; values within `COST_TIE` of the cheapest count as equally cheap and the forest's partial dependence picks
   the one with the highest predicted tau).
It stops when one dimension is left (after evaluating it) or the budget (seconds of evaluation cost) is spent.

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
from searchers.mip.space import DIMENSIONS, BPESpace, Config, config_key

IMPORTANCE_METHODS: tuple[str, ...] = ("fanova", "impurity", "permutation")
COST_TIE = 0.05
"""Relative cost difference under which two values of a pruned dimension count as equally cheap."""
POOL = 4096
"""Candidate configs drawn uniformly from the remaining space before the cost-biased draw."""


@dataclass(frozen=True)
class MIPSettings:
    """How MIP searches: budget in seconds of evaluation cost, configs per iteration, cost bias, importance method."""

    budget: float
    per_iteration: int = 4
    beta: float = 1.0
    """Sampling weight = predicted cost ** -beta (0 = uniform)."""
    importance: str = "fanova"
    n_trees: int = 64
    seed: int = 0

    def __post_init__(self) -> None:
        seconds = "a finite number of seconds > 0"
        require_number(
            "MIPSettings", "budget", self.budget, 0, math.inf, low_open=True, high_open=True, allowed=seconds
        )
        for name in ("per_iteration", "n_trees"):
            require_int("MIPSettings", name, getattr(self, name), minimum=1)
        require_number("MIPSettings", "beta", self.beta, 0, math.inf, high_open=True)
        require_choice("MIPSettings", "importance", self.importance, IMPORTANCE_METHODS)
        require_int("MIPSettings", "seed", self.seed, minimum=0)


@dataclass(frozen=True)
class Measurement:
    """What the objective returns for one config: rank agreement and the seconds it cost."""

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
            "cost_seconds": self.cost,
            "predicted_cost_seconds": self.predicted_cost,
            "iteration": self.iteration,
            "reused": self.reused,
            **self.extra,
        }


@dataclass(frozen=True)
class Iteration:
    """One MIP iteration: the configs it evaluated, the importances it found, the dimension it pruned."""

    index: int
    remaining: tuple[str, ...]
    """Dimensions still free at the start of the iteration."""
    trials: tuple[Trial, ...]
    importances: dict[str, float]
    pruned: str | None
    fixed_to: Any
    spent: float
    """Evaluation seconds spent so far, this iteration included."""

    def to_dict(self) -> dict:
        return {
            "index": self.index,
            "remaining": list(self.remaining),
            "configs": len(self.trials),
            "taus": [t.tau for t in self.trials],
            "best_tau": max((t.tau for t in self.trials if math.isfinite(t.tau)), default=math.nan),
            "cost_seconds": sum(t.cost for t in self.trials),
            "importances": self.importances,
            "pruned": self.pruned,
            "fixed_to": self.fixed_to,
            "spent_seconds": self.spent,
        }


@dataclass(frozen=True)
class SearchResult:
    """The outcome of MIP or random search: every trial in evaluation order, and why it stopped."""

    method: str
    trials: tuple[Trial, ...]
    spent: float
    budget: float
    stop_reason: str
    cost_model: CostModel
    iterations: tuple[Iteration, ...] = ()
    final_space: BPESpace | None = None

    def to_dict(self) -> dict:
        front = pareto_front(self.trials)
        return {
            "method": self.method,
            "budget_seconds": self.budget,
            "spent_seconds": self.spent,
            "stop_reason": self.stop_reason,
            "trials": [t.to_dict() for t in self.trials],
            "iterations": [i.to_dict() for i in self.iterations],
            "pareto_front": [self.trials.index(t) for t in front],
            "final_space": self.final_space.to_dict() if self.final_space else None,
            "cost_model": self.cost_model.to_dict(),
        }


def run_mip(
    space: BPESpace,
    objective: Objective,
    cost_model: CostModel,
    settings: MIPSettings,
    on_trial: Callable[[Trial], None] | None = None,
) -> SearchResult:
    """Minimum Importance Pruning over `space` under `settings.budget` seconds of evaluation cost."""
    rng = np.random.default_rng(settings.seed)
    remaining, trials, iterations = space, [], []
    spent, stop = 0.0, ""
    while not stop:
        index = len(iterations)
        model = _fitted(cost_model, trials)
        evaluated = {config_key(t.config) for t in trials}
        proposals = propose(remaining, model, settings, rng, evaluated, settings.budget - spent)
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
        dims = remaining.varying
        importances, pruned, value = {}, None, None
        if len(dims) > 1 and len(trials) >= 2:
            importances = importance(space, trials, dims, settings.importance, settings.n_trees, settings.seed)
            pruned = min(dims, key=lambda d: (importances[d], DIMENSIONS.index(d)))
            value = cheapest_value(space, remaining, pruned, _fitted(cost_model, trials), trials, settings)
        iterations.append(Iteration(index, dims, tuple(new), importances, pruned, value, spent))
        if pruned is not None:
            remaining = remaining.fix(pruned, value)
        if len(dims) <= 1:
            stop = "one dimension left" if dims else "every dimension fixed"
        elif spent >= settings.budget:
            stop = "budget spent"
        elif not new:
            stop = "no unevaluated config fits the budget left"
    return SearchResult(
        "mip", tuple(trials), spent, settings.budget, stop, _fitted(cost_model, trials), tuple(iterations), remaining
    )


def random_search(
    space: BPESpace,
    objective: Objective,
    cost_model: CostModel,
    budget: float,
    seed: int = 0,
    on_trial: Callable[[Trial], None] | None = None,
    calibration: Sequence[Trial] = (),
) -> SearchResult:
    """Uniformly random configs of `space` until `budget` seconds are spent (skipping those predicted to overrun).

    `calibration`: trials measured elsewhere (e.g. MIP's) that only calibrate the cost model, never the choice.
    """
    MIPSettings(budget=budget, seed=seed)  # validates budget and seed
    rng = np.random.default_rng(seed)
    trials: list[Trial] = []
    spent = 0.0
    model = _fitted(cost_model, calibration)
    for config in space.sample(POOL, rng):
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
    return SearchResult("random", tuple(trials), spent, budget, stop, model)


def importance(
    space: BPESpace, trials: Sequence[Trial], dims: Sequence[str], method: str, n_trees: int = 64, seed: int = 0
) -> dict[str, float]:
    """Importance of each of `dims` for tau, from a forest fitted on every trial (features: `space.varying`)."""
    columns = space.varying
    x, y = _design(space, trials)
    if len(trials) < 2 or np.ptp(y) == 0:
        return {d: 0.0 for d in dims}
    if method == "fanova":
        scores = _fanova(space, x, y, n_trees, seed)
    elif method in ("impurity", "permutation"):
        forest = fit_forest(space, trials, n_trees, seed)
        if method == "impurity":
            values = forest.feature_importances_
        else:
            from sklearn.inspection import permutation_importance

            values = permutation_importance(forest, x, y, n_repeats=10, random_state=seed).importances_mean
        scores = dict(zip(columns, (float(v) for v in values), strict=True))
    else:
        raise ValueError(f"unknown importance method {method!r}; allowed: {', '.join(IMPORTANCE_METHODS)}")
    return {d: scores[d] for d in dims}


def fit_forest(space: BPESpace, trials: Sequence[Trial], n_trees: int = 64, seed: int = 0):
    """Random forest regressor: value positions of `space.varying` -> tau (failed configs count as tau 0)."""
    from sklearn.ensemble import RandomForestRegressor

    x, y = _design(space, trials)
    return RandomForestRegressor(n_estimators=n_trees, random_state=seed).fit(x, y)


def cheapest_value(
    space: BPESpace, remaining: BPESpace, dim: str, model: CostModel, trials: Sequence[Trial], settings: MIPSettings
) -> Any:
    """The value `dim` is pruned to: cheapest over the remaining space; ties go to the forest's best partial tau."""
    pool = remaining.sample(256, np.random.default_rng(settings.seed))
    values = remaining.values[dim]
    costs = np.array([np.mean([model.predict({**c, dim: v}) for c in pool]) for v in values])
    tied = [v for v, c in zip(values, costs, strict=True) if c <= costs.min() * (1 + COST_TIE)]
    if len(tied) == 1 or len(trials) < 2:
        return tied[0]
    forest = fit_forest(space, trials, settings.n_trees, settings.seed)
    x, _ = _design(space, trials)
    column = space.varying.index(dim)
    partial = []
    for v in tied:
        probe = x.copy()
        probe[:, column] = space.values[dim].index(v)
        partial.append(float(forest.predict(probe).mean()))
    return tied[int(np.argmax(partial))]


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
    """The trial with the highest tau among those costing at most `cost_cap` seconds (None: no cap)."""
    allowed = [t for t in trials if math.isfinite(t.tau) and (cost_cap is None or t.cost <= cost_cap)]
    return max(allowed, key=lambda t: (t.tau, -t.cost), default=None)


# ---- internals


def _tau(trial: Trial) -> float:
    return trial.tau if math.isfinite(trial.tau) else 0.0


def _design(space: BPESpace, trials: Sequence[Trial]) -> tuple[np.ndarray, np.ndarray]:
    columns = space.varying
    x = np.array([space.encode(t.config, columns) for t in trials], dtype=np.float64).reshape(len(trials), len(columns))
    return x, np.array([_tau(t) for t in trials])


def _fanova(space: BPESpace, x: np.ndarray, y: np.ndarray, n_trees: int, seed: int) -> dict[str, float]:
    try:
        import optuna
        from optuna.distributions import IntDistribution
        from optuna.importance import FanovaImportanceEvaluator
    except ImportError as err:
        raise ValueError("fANOVA importance needs optuna (pip install optuna); or use importance 'impurity'") from err

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    columns = space.varying
    distributions = {d: IntDistribution(0, len(space.values[d]) - 1) for d in columns}
    study = optuna.create_study(direction="maximize")
    for row, value in zip(x, y, strict=True):
        params = {d: int(v) for d, v in zip(columns, row, strict=True)}
        study.add_trial(optuna.trial.create_trial(params=params, distributions=distributions, value=float(value)))
    evaluator = FanovaImportanceEvaluator(n_trees=n_trees, seed=seed)
    return {d: float(v) for d, v in evaluator.evaluate(study, params=list(columns)).items()}


def _fitted(model: CostModel, trials: Sequence[Trial]) -> CostModel:
    return model.fit([t.config for t in trials], [t.cost for t in trials])


def _evaluate(objective: Objective, config: Config, predicted: float, iteration: int) -> Trial:
    measured = objective(dict(config))
    return Trial(dict(config), measured.tau, measured.cost, predicted, iteration, measured.reused, measured.extra)


def propose(
    space: BPESpace,
    model: CostModel,
    settings: MIPSettings,
    rng: np.random.Generator,
    evaluated: set[tuple],
    budget_left: float,
) -> list[Config]:
    """Up to `per_iteration` unevaluated configs, drawn without replacement with weight cost ** -beta."""
    candidates = [c for c in space.sample(POOL, rng) if config_key(c) not in evaluated]
    costs = np.array([model.predict(c) for c in candidates])
    fits = [i for i, cost in enumerate(costs) if cost <= budget_left]
    if not fits:
        return []
    weights = np.maximum(costs[fits], 1e-12) ** -settings.beta
    n = min(settings.per_iteration, len(fits))
    picked = rng.choice(len(fits), size=n, replace=False, p=weights / weights.sum())
    return [candidates[fits[i]] for i in picked]


__all__ = [
    "IMPORTANCE_METHODS",
    "Iteration",
    "MIPSettings",
    "Measurement",
    "SearchResult",
    "Trial",
    "choose",
    "importance",
    "pareto_front",
    "propose",
    "random_search",
    "run_mip",
]
