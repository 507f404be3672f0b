"""The searcher protocol: spend an estimator's per-arch cost from a budget, record a trajectory, name one arch.

A search problem is a dataset, a budget in seconds and (for black-box searchers) an estimator. Black-box searchers
ask an `Oracle` for scores; the oracle pays each query's cost, as the estimator reports it, from the budget.
Tabular estimators report NB201's recorded GPU seconds (training plus one validation pass), so the budget is
simulated and a search takes milliseconds. Two protocols (`PROTOCOLS`):

- `nb201` (the default, NB201's `exps/algos`): every query is paid, a repeated arch included; where the estimator
  has per-trial data (`trials`), each query sees one trial drawn at random, as NB201's `get_more_info(...,
  is_random=True)` does; REA's tournament samples with replacement and mutates a uniform node then a uniform incoming
  edge.
- `dedup` (deduplicated): an arch asked for again in the same run is answered from the run's cache for free, one
  fixed trial per arch and search seed; REA samples its tournament without replacement and mutates a uniform edge.
  A run also ends after `max_stall` queries in a row that only hit the cache (a converged policy or population would
  otherwise spin for free).

The query that the remaining budget cannot pay is not counted: its score is dropped and the search ends, so the
spent cost never exceeds the budget. A search also ends after `max_queries` paid queries when that is set (comparing
estimators at an equal number of evaluated archs; the budget may then be infinite) or after `max_steps` queries
(free estimators never exhaust a budget). Unless the searcher says otherwise, its answer is the arch with the best
estimated score (NB201's protocol); NaN scores (failed estimations) never win.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

from harness.checks import require_choice, require_int, require_number
from harness.estimation import Estimator

DEFAULT_MAX_STEPS = 10_000
"""Queries (cached ones included) after which a black-box search stops even if the budget is not spent."""
DEFAULT_MAX_STALL = 100
"""Consecutive queries of already-known archs after which a `dedup` search counts as converged and stops."""
PROTOCOLS: tuple[str, ...] = ("nb201", "dedup")
DEFAULT_PROTOCOL = "nb201"
_TRIAL_STREAM = 201
"""Mixed into the search seed for the oracle's own trial draws, so they leave the searcher's random stream alone."""


class BudgetExhausted(Exception):
    """Raised by the oracle when the next query cannot be paid or the step limit is reached."""


@dataclass(frozen=True)
class Problem:
    """What a searcher is asked to solve: a dataset, a budget in seconds and the estimator it may query."""

    dataset: str
    budget: float
    arch_strings: Sequence[str]
    """All arch strings; a searcher names archs by their position here (the official index order)."""
    estimator: Estimator | None = None
    lookup: bool = False
    """True for table estimators: every score is read in one call up front; costs are still paid per query."""
    max_steps: int = DEFAULT_MAX_STEPS
    max_stall: int = DEFAULT_MAX_STALL
    max_queries: int | None = None
    """Paid queries after which the search ends (None: only the budget and the other limits end it)."""
    protocol: str = DEFAULT_PROTOCOL
    """`nb201` (every query paid, a random trial per query) or `dedup` (repeats free); see the module docstring."""

    def __post_init__(self) -> None:
        check_limits(self.budget, self.max_steps, self.max_stall, self.max_queries, "Problem.")
        check_protocol(self.protocol, "Problem.")
        if not self.arch_strings:
            raise ValueError("Problem.arch_strings is empty: pass every arch string in index order")


def check_limits(budget: float, max_steps: int, max_stall: int, max_queries: int | None, prefix: str = "") -> None:
    """Raise ValueError naming the first invalid stop limit and what is allowed."""
    owner = prefix.rstrip(".")
    require_number(owner, "budget", budget, 0, low_open=True, allowed="a number of seconds > 0")
    if budget == math.inf and max_queries is None:
        raise ValueError(f"{prefix}budget is infinite: give a finite budget or a query limit (max_queries)")
    limits = {"max_steps": max_steps, "max_stall": max_stall, "max_queries": max_queries}
    for name, value in limits.items():
        if name == "max_queries" and value is None:
            continue
        require_int(owner, name, value, minimum=1)


def check_protocol(protocol: str, prefix: str = "") -> None:
    require_choice(prefix.rstrip("."), "protocol", protocol, PROTOCOLS)


@dataclass(frozen=True)
class Trajectory:
    """One row per query (or per epoch for DARTS), in order."""

    cost: np.ndarray
    """Seconds spent so far, after this query."""
    arch: np.ndarray
    """Arch index queried."""
    score: np.ndarray
    """Its estimated score (NaN = failed)."""
    best: np.ndarray
    """The arch the searcher would answer after this query."""
    paid: np.ndarray
    """False where the arch came from the run's cache at no cost."""
    trial: np.ndarray
    """The ground-truth seed the query read (-1: none, or not known)."""

    def __post_init__(self) -> None:
        lengths = {len(getattr(self, name)) for name in ("cost", "arch", "score", "best", "paid", "trial")}
        if len(lengths) != 1:
            raise ValueError(f"trajectory columns must have equal length, got {sorted(lengths)}")

    def __len__(self) -> int:
        return len(self.arch)

    def to_dict(self) -> dict:
        return {
            "cost": self.cost.tolist(),
            "arch": self.arch.tolist(),
            "score": self.score.tolist(),
            "best": self.best.tolist(),
            "paid": self.paid.tolist(),
            "trial": self.trial.tolist(),
        }

    @classmethod
    def from_dict(cls, data: dict) -> Trajectory:
        return cls(
            np.asarray(data["cost"], dtype=np.float64),
            np.asarray(data["arch"], dtype=np.int64),
            np.asarray([math.nan if s is None else s for s in data["score"]], dtype=np.float64),
            np.asarray(data["best"], dtype=np.int64),
            np.asarray(data["paid"], dtype=bool),
            np.asarray(data["trial"], dtype=np.int64),
        )

    def trials_seen(self, arch: int) -> set[int]:
        """Ground-truth seeds of `arch` that the search read."""
        return {int(t) for a, t in zip(self.arch, self.trial, strict=True) if a == arch and t >= 0}


@dataclass(frozen=True)
class SearchResult:
    """A searcher's answer: the chosen arch, the cost spent (seconds on `device`, multiply-adds), how it got there."""

    arch: int
    cost: float
    trajectory: Trajectory
    metadata: dict = field(default_factory=dict)
    macs: float = math.nan
    """Multiply-adds the search paid (training plus evaluation of its queries; NaN where not counted)."""
    device: str = "unknown"
    """Where the seconds of `cost` were spent."""


@runtime_checkable
class Searcher(Protocol):
    """Anything that searches; `name` is its registry name, `config` what makes its searches differ."""

    name: str

    @property
    def config(self) -> dict: ...

    def search(self, problem: Problem, seed: int) -> SearchResult: ...


class Oracle:
    """Scores archs with the problem's estimator and pays each query from the budget, as the protocol says."""

    def __init__(self, problem: Problem, seed: int) -> None:
        if problem.estimator is None:
            raise ValueError("this searcher queries an estimator; the problem has none")
        self.problem, self.seed = problem, seed
        self.spent = 0.0
        """Seconds paid so far, on `device`."""
        self.spent_macs = 0.0
        """Multiply-adds (training plus evaluation) paid so far."""
        self.device = "unknown"
        self.paid_queries = 0
        self._cache: dict[int, tuple[float, int]] = {}
        self._stall = 0
        self._rows: list[tuple[float, int, float, int, bool, int]] = []
        self._best: int | None = None
        self._best_score = -math.inf
        self._table: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None
        """(scores, seconds, multiply-adds, trial) of every arch, read up front (table estimators)."""
        self._trials = None
        if problem.lookup:
            estimator = problem.estimator
            if problem.protocol == "nb201" and hasattr(estimator, "trials"):
                self._trials = estimator.trials(problem.dataset)
                self._trial_rng = np.random.default_rng([seed, _TRIAL_STREAM])
                self.device = self._trials.device
            else:
                everything = estimator.estimate(np.arange(len(problem.arch_strings)), problem.dataset, seed)
                read = everything.reads.seeds if everything.reads is not None else np.full(len(everything.archs), -1)
                self._table = (
                    np.asarray(everything.scores, dtype=np.float64),
                    np.asarray(everything.costs, dtype=np.float64),
                    np.asarray(everything.macs, dtype=np.float64),
                    np.asarray(read, dtype=np.int64),
                )
                self.device = everything.device
        self._index = {arch: i for i, arch in enumerate(problem.arch_strings)}

    @property
    def num_archs(self) -> int:
        return len(self.problem.arch_strings)

    @property
    def remaining(self) -> float:
        return self.problem.budget - self.spent

    def arch_string(self, arch: int) -> str:
        return self.problem.arch_strings[arch]

    def index(self, arch_str: str) -> int:
        return self._index[arch_str]

    def score(self, arch: int) -> float:
        """Estimated score of `arch` (NaN = failed); raises BudgetExhausted when it cannot be paid."""
        arch = int(arch)
        if len(self._rows) >= self.problem.max_steps:
            raise BudgetExhausted(f"step limit {self.problem.max_steps} reached")
        if self.problem.protocol == "dedup" and arch in self._cache:
            self._stall += 1
            if self._stall > self.problem.max_stall:
                raise BudgetExhausted(f"converged: {self.problem.max_stall} queries in a row of known archs")
            (value, trial), paid = self._cache[arch], False
        else:
            if self.problem.max_queries is not None and self.paid_queries >= self.problem.max_queries:
                raise BudgetExhausted(f"query limit {self.problem.max_queries} reached")
            value, cost, macs, trial = self._estimate(arch)
            if not math.isfinite(cost) or cost < 0:
                raise ValueError(f"estimator {self.problem.estimator.name} reported cost {cost!r} for arch {arch}")
            if self.spent + cost > self.problem.budget:
                raise BudgetExhausted(f"arch {arch} costs {cost:.1f} s, {self.remaining:.1f} s left")
            self.spent += cost
            self.spent_macs += macs
            self.paid_queries += 1
            self._cache[arch], paid = (value, trial), True
            self._stall = 0
        if math.isfinite(value) and value > self._best_score:
            self._best, self._best_score = arch, value
        best = arch if self._best is None else self._best
        self._rows.append((self.spent, arch, value, best, paid, trial))
        return value

    def _estimate(self, arch: int) -> tuple[float, float, float, int]:
        """(score, seconds, multiply-adds, trial read) of one query."""
        if self._trials is not None:
            trials = self._trials
            available = np.flatnonzero(~np.isnan(trials.values[arch]))
            if not len(available):
                return math.nan, 0.0, 0.0, -1  # nothing recorded: nothing to pay for
            column = int(available[self._trial_rng.integers(len(available))])
            macs = float(trials.train_macs[arch] + trials.eval_macs[arch])
            return float(trials.values[arch, column]), float(trials.seconds[arch]), macs, int(trials.seeds[column])
        if self._table is not None:
            scores, seconds, macs, trial = self._table
            return float(scores[arch]), float(seconds[arch]), float(macs[arch]), int(trial[arch])
        assert self.problem.estimator is not None
        result = self.problem.estimator.estimate(np.array([arch]), self.problem.dataset, self.seed)
        self.device = result.device
        trial = int(result.reads.seeds[0]) if result.reads is not None else -1
        return float(result.scores[0]), float(result.costs[0]), float(result.macs[0]), trial

    def trajectory(self) -> Trajectory:
        columns = list(zip(*self._rows, strict=True)) if self._rows else [()] * 6
        dtypes = (np.float64, np.int64, np.float64, np.int64, bool, np.int64)
        return Trajectory(*(np.asarray(c, dtype=t) for c, t in zip(columns, dtypes, strict=True)))


class BlackBoxSearcher(ABC):
    """A searcher that only asks the oracle for scores; it answers the best-scored arch it saw."""

    name: str

    @property
    @abstractmethod
    def config(self) -> dict: ...

    @abstractmethod
    def run(self, oracle: Oracle, rng: np.random.Generator, metadata: dict) -> None:
        """Query the oracle until it raises BudgetExhausted; may note anything worth keeping in `metadata`, and an
        `answer` (an arch index) where the searcher answers something other than its best-scored arch."""

    def search(self, problem: Problem, seed: int) -> SearchResult:
        oracle = Oracle(problem, seed)
        metadata: dict = {}
        try:
            self.run(oracle, np.random.default_rng(seed), metadata)
        except BudgetExhausted as stop:
            metadata["stopped"] = str(stop)
        trajectory = oracle.trajectory()
        if len(trajectory) == 0:
            raise ValueError(
                f"budget {problem.budget} s cannot pay a single query of {problem.estimator.name}; raise --budget"
            )
        answer = metadata.pop("answer", None)
        arch = int(trajectory.best[-1] if answer is None else answer)
        return SearchResult(arch, oracle.spent, trajectory, metadata, oracle.spent_macs, oracle.device)


def random_arch(oracle: Oracle, rng: np.random.Generator) -> int:
    """A uniformly random arch index."""
    return int(rng.integers(oracle.num_archs))
