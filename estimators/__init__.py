"""Performance estimators: tabular lookups, live BPE training, zero-cost proxies, curve extrapolation, MIP."""

from estimators.base import Estimation, Estimator
from estimators.registry import create, entries, entry, names, register

__all__ = ["Estimation", "Estimator", "create", "entries", "entry", "names", "register"]
