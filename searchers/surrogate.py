"""Surrogate-model search in the spirit of PNAS (Liu et al., ECCV 2018): a model over arch encodings picks queries.

After `initial` random archs, each round fits a random forest on the one-hot encodings (6 edges x 5 ops) of every
scored arch, predicts the score of a candidate pool (`candidates` random archs plus every one-edge mutation of the
`parents` best-scored ones) and queries the `batch` best-predicted archs not yet scored. Failed (NaN) estimations
count as the worst score seen, so the model learns to avoid them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from harness import space
from harness.checks import require_int
from searchers import register
from searchers.base import BlackBoxSearcher, Oracle, random_arch


@dataclass(frozen=True)
class SurrogateSearch(BlackBoxSearcher):
    """`initial` random archs, then rounds of `batch` archs proposed by a `trees`-tree random forest."""

    initial: int = 10
    batch: int = 5
    candidates: int = 500
    parents: int = 5
    trees: int = 32
    name: str = "surrogate"

    def __post_init__(self) -> None:
        for field_name in ("initial", "batch", "candidates", "parents", "trees"):
            require_int("SurrogateSearch", field_name, getattr(self, field_name), minimum=1)

    @property
    def config(self) -> dict:
        return {
            "initial": self.initial,
            "batch": self.batch,
            "candidates": self.candidates,
            "parents": self.parents,
            "trees": self.trees,
        }

    def run(self, oracle: Oracle, rng: np.random.Generator, metadata: dict) -> None:
        scored: dict[int, float] = {}
        while len(scored) < self.initial:
            arch = random_arch(oracle, rng)
            scored[arch] = oracle.score(arch)
        metadata["rounds"] = 0  # model fits so far
        while True:
            metadata["rounds"] += 1
            for arch in self._propose(oracle, rng, scored):
                scored[arch] = oracle.score(arch)

    def _propose(self, oracle: Oracle, rng: np.random.Generator, scored: dict[int, float]) -> list[int]:
        """The `batch` unscored candidates with the best predicted scores."""
        archs = np.fromiter(scored, dtype=np.int64)
        values = np.array([scored[a] for a in archs.tolist()])
        finite = np.isfinite(values)
        if not finite.any():
            return [random_arch(oracle, rng) for _ in range(self.batch)]
        values[~finite] = values[finite].min()
        from sklearn.ensemble import RandomForestRegressor

        model = RandomForestRegressor(self.trees, random_state=int(rng.integers(2**31)), n_jobs=1)
        model.fit(encode(oracle, archs), values)
        best = archs[np.argsort(-values, kind="stable")[: self.parents]]
        neighbours = [oracle.index(m) for a in best.tolist() for m in space.mutations(oracle.arch_string(a))]
        pool = np.unique(np.concatenate([rng.integers(oracle.num_archs, size=self.candidates), neighbours]))
        pool = pool[~np.isin(pool, archs)]
        if pool.size == 0:
            return [random_arch(oracle, rng)]
        predicted = model.predict(encode(oracle, pool))
        return pool[np.argsort(-predicted, kind="stable")[: self.batch]].tolist()


def encode(oracle: Oracle, archs: np.ndarray) -> np.ndarray:
    """One-hot op per edge: (n, 6 * 5) floats."""
    codes = np.array([[space.OPS.index(op) for op in space.parse(oracle.arch_string(a))] for a in archs.tolist()])
    onehot = np.zeros((len(archs), space.NUM_EDGES, len(space.OPS)))
    np.put_along_axis(onehot, codes[:, :, None], 1.0, axis=2)
    return onehot.reshape(len(archs), -1)


@register("surrogate", family="query")
def surrogate(initial: int = 10, batch: int = 5, candidates: int = 500, parents: int = 5) -> SurrogateSearch:
    """Surrogate search (PNAS spirit): a random forest over one-hot archs picks the next ones to query."""
    return SurrogateSearch(initial, batch, candidates, parents)
