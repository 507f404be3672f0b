"""NAS searchers driven by any estimator under a cost budget: random search, regularized evolution, REINFORCE, DARTS."""

from searchers.base import Oracle, Problem, Searcher, SearchResult, Trajectory
from searchers.registry import create, entries, entry, names, register

__all__ = [
    "Oracle",
    "Problem",
    "SearchResult",
    "Searcher",
    "Trajectory",
    "create",
    "entries",
    "entry",
    "names",
    "register",
]
