"""Random search: query uniformly random archs until the budget is spent; answer the best-scored one."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from searchers import register
from searchers.base import BlackBoxSearcher, Oracle, random_arch


@dataclass(frozen=True)
class RandomSearch(BlackBoxSearcher):
    name: str = "rs"

    @property
    def config(self) -> dict:
        return {}

    def run(self, oracle: Oracle, rng: np.random.Generator, metadata: dict) -> None:
        while True:
            oracle.score(random_arch(oracle, rng))


@register("rs", family="query")
def rs() -> RandomSearch:
    """Random search: uniformly random archs, the best estimated one wins."""
    return RandomSearch()
