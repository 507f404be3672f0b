"""Performance estimators (plugins on the core): tabular lookups, live BPE training, zero-cost proxies, curves.

Each module registers its factories in `REGISTRY` with `@register(name, family, live)`; a factory takes the ground
truth and its options and returns a `harness.estimation.Estimator`.
"""

from harness.estimation import Estimation, Estimator
from harness.registry import Registry

REGISTRY: Registry[Estimator] = Registry("estimator", __name__)
register = REGISTRY.register
entries = REGISTRY.entries
entry = REGISTRY.entry
names = REGISTRY.names
create = REGISTRY.create

__all__ = ["REGISTRY", "Estimation", "Estimator", "create", "entries", "entry", "names", "register"]
