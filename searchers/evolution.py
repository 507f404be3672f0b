"""Regularized (aging) evolution (Real et al., AAAI 2019): tournament selection, one-edge mutation, oldest dies.

Under the `nb201` protocol as xautodl's `regularized_evolution`: the tournament draws `sample_size` members with
replacement and the child mutates a uniform node, then a uniform incoming edge of it (`space.mutate_node_edge`);
under `dedup` the tournament draws without replacement and the child mutates a uniform edge (`space.mutate`).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from harness import space
from harness.checks import require_int
from harness.registry import configured
from searchers import register
from searchers.base import BlackBoxSearcher, Oracle, random_arch


@dataclass(frozen=True)
class RegularizedEvolution(BlackBoxSearcher):
    """A population of `population` archs; each cycle the best of `sample_size` random members has a mutated child."""

    population: int = field(default=10, metadata={"help": "population size"})
    sample_size: int = field(default=3, metadata={"help": "tournament size"})
    name: str = field(default="rea", init=False)

    def __post_init__(self) -> None:
        for field_name in ("population", "sample_size"):
            require_int("RegularizedEvolution", field_name, getattr(self, field_name), minimum=1)
        if self.sample_size > self.population:
            raise ValueError(
                f"RegularizedEvolution.sample_size = {self.sample_size} is invalid: must be at most the population "
                f"({self.population})"
            )

    @property
    def config(self) -> dict:
        return {"population": self.population, "sample_size": self.sample_size}

    def run(self, oracle: Oracle, rng: np.random.Generator, metadata: dict) -> None:
        members: deque[tuple[int, float]] = deque()
        parents: list[int] = metadata.setdefault("parents", [])
        """Parent of each child, in order (the first `population` queries are random and have none)."""
        while len(members) < self.population:
            arch = random_arch(oracle, rng)
            members.append((arch, oracle.score(arch)))
        nb201 = oracle.problem.protocol == "nb201"
        mutate = space.mutate_node_edge if nb201 else space.mutate
        while True:
            picked = rng.choice(len(members), size=self.sample_size, replace=nb201)
            parent = max((members[i] for i in (picked if nb201 else sorted(picked))), key=lambda m: _rank(m[1]))[0]
            child = oracle.index(mutate(oracle.arch_string(parent), rng))
            score = oracle.score(child)
            parents.append(parent)
            members.append((child, score))
            members.popleft()


def _rank(score: float) -> float:
    return score if math.isfinite(score) else -math.inf


@register("rea", family="query", options=RegularizedEvolution)
def rea(config: RegularizedEvolution | None = None, **fields: int) -> RegularizedEvolution:
    """Regularized evolution: tournament of `sample_size` from an aging population, one-edge mutation (NB201: 10, 3)."""
    return configured(RegularizedEvolution, config, fields)
