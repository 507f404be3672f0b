"""NAS searchers (plugins on the core): random search, regularized evolution, REINFORCE, surrogate, DARTS; `mip`
searches the BPE space.

Each module registers its factories in `REGISTRY` with `@register(name, family, live)`: a searcher of family
"query" is handed an estimator (through `Problem`); a "supernet" one (DARTS, `live=True`) trains its own network.
Searchers never import an estimator.
"""

from harness.registry import Registry
from searchers.base import Oracle, Problem, Searcher, SearchResult, Trajectory

REGISTRY: Registry[Searcher] = Registry("searcher", __name__)
register = REGISTRY.register
entries = REGISTRY.entries
entry = REGISTRY.entry
names = REGISTRY.names
create = REGISTRY.create

__all__ = [
    "REGISTRY",
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
