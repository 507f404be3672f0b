"""Surrogate-model search in the spirit of PNAS (Liu et al., ECCV 2018) and BANANAS (White et al., AAAI 2021): a model
over arch features picks queries.

After `initial` random archs, each round fits a random forest on the features of every scored arch, predicts the
score of a candidate pool (`candidates` random archs plus every one-edge mutation of the `parents` best-scored ones)
and queries the `batch` unscored archs with the best acquisition value. Failed (NaN) estimations count as the worst
score seen, so the model learns to avoid them.

Features (`features`, '+'-joined): `onehot` (6 edges x 5 ops), `path` (BANANAS path encoding: which non-`none` op
sequence each of the cell's 4 input-to-output paths carries, 100 columns) and `zc` (the stored zero-cost scores of a
results store, `zerocost_store`: every proxy the store holds at one setting, signed log; the candidate pool and the
random archs are then limited to the archs the store scores, a subset of the space). Acquisition (`acquisition`):
`greedy` (the forest's mean prediction) or `ucb` (mean plus `beta` times the spread of the trees' predictions, the
ensemble-uncertainty acquisition of BANANAS).
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass

import numpy as np

from harness import space
from harness.checks import require_choice, require_int, require_number
from harness.store import Store
from searchers import register
from searchers.base import BlackBoxSearcher, Oracle, random_arch

FEATURES: tuple[str, ...] = ("onehot", "path", "zc")
ACQUISITIONS: tuple[str, ...] = ("greedy", "ucb")
ZC_PROXIES: frozenset[str] = frozenset({"synflow", "jacob_cov", "naswot", "snip", "grad_norm", "grasp", "fisher"})
PATHS: tuple[tuple[int, ...], ...] = ((0, 3), (0, 1, 3), (0, 2, 3), (0, 1, 2, 3))


@dataclass(frozen=True)
class SurrogateSearch(BlackBoxSearcher):
    """`initial` random archs, then rounds of `batch` archs proposed by a `trees`-tree random forest."""

    initial: int = 10
    batch: int = 5
    candidates: int = 500
    parents: int = 5
    trees: int = 32
    features: str = "onehot"
    acquisition: str = "greedy"
    beta: float = 1.0
    zerocost_store: str | None = None
    name: str = "surrogate"

    def __post_init__(self) -> None:
        for field_name in ("initial", "batch", "candidates", "parents", "trees"):
            require_int("SurrogateSearch", field_name, getattr(self, field_name), minimum=1)
        for part in self.feature_sets:
            require_choice("SurrogateSearch", "features", part, FEATURES)
        require_choice("SurrogateSearch", "acquisition", self.acquisition, ACQUISITIONS)
        require_number("SurrogateSearch", "beta", self.beta, 0)
        if ("zc" in self.feature_sets) != (self.zerocost_store is not None):
            raise ValueError("SurrogateSearch: feature 'zc' and zerocost_store=PATH go together (give both or neither)")

    @property
    def feature_sets(self) -> tuple[str, ...]:
        return tuple(self.features.split("+"))

    @property
    def config(self) -> dict:
        config = {
            "initial": self.initial,
            "batch": self.batch,
            "candidates": self.candidates,
            "parents": self.parents,
            "trees": self.trees,
        }
        if self.features != "onehot" or self.acquisition != "greedy":  # the original searcher keeps its key
            config |= {"features": self.features, "acquisition": self.acquisition, "beta": self.beta}
        if self.zerocost_store is not None:
            config["zerocost_store"] = self.zerocost_store
        return config

    def run(self, oracle: Oracle, rng: np.random.Generator, metadata: dict) -> None:
        encoder = Encoder(oracle, self.feature_sets, self.zerocost_store)
        scored: dict[int, float] = {}
        while len(scored) < self.initial:
            arch = encoder.random_arch(rng)
            scored[arch] = oracle.score(arch)
        metadata["rounds"] = 0  # model fits so far
        if encoder.allowed is not None:
            metadata["space"] = int(encoder.allowed.size)
        while True:
            metadata["rounds"] += 1
            for arch in self._propose(oracle, encoder, rng, scored):
                scored[arch] = oracle.score(arch)

    def _propose(
        self, oracle: Oracle, encoder: Encoder, rng: np.random.Generator, scored: dict[int, float]
    ) -> list[int]:
        """The `batch` unscored candidates with the best acquisition values."""
        archs = np.fromiter(scored, dtype=np.int64)
        values = np.array([scored[a] for a in archs.tolist()])
        finite = np.isfinite(values)
        if not finite.any():
            return [encoder.random_arch(rng) for _ in range(self.batch)]
        values[~finite] = values[finite].min()
        from sklearn.ensemble import RandomForestRegressor

        model = RandomForestRegressor(self.trees, random_state=int(rng.integers(2**31)), n_jobs=1)
        model.fit(encoder(archs), values)
        best = archs[np.argsort(-values, kind="stable")[: self.parents]]
        neighbours = [oracle.index(m) for a in best.tolist() for m in space.mutations(oracle.arch_string(a))]
        pool = np.unique(np.concatenate([encoder.random_archs(rng, self.candidates), neighbours]))
        pool = pool[~np.isin(pool, archs)]
        if encoder.allowed is not None:
            pool = pool[np.isin(pool, encoder.allowed)]
        if pool.size == 0:
            return [encoder.random_arch(rng)]
        features = encoder(pool)
        if self.acquisition == "greedy":
            value = model.predict(features)
        else:
            per_tree = np.stack([tree.predict(features) for tree in model.estimators_])
            value = per_tree.mean(axis=0) + self.beta * per_tree.std(axis=0)
        return pool[np.argsort(-value, kind="stable")[: self.batch]].tolist()


class Encoder:
    """Feature rows of archs: the chosen feature sets side by side; `allowed` the archs they describe (None: all)."""

    def __init__(self, oracle: Oracle, feature_sets: tuple[str, ...], zerocost_store: str | None) -> None:
        self.oracle = oracle
        self.feature_sets = feature_sets
        self.allowed: np.ndarray | None = None
        self._zc: np.ndarray | None = None
        if "zc" in feature_sets:
            assert zerocost_store is not None
            self._zc = stored_zerocost(zerocost_store, oracle.problem.dataset, oracle.num_archs)
            self.allowed = np.flatnonzero(~np.isnan(self._zc).any(axis=1))
            if self.allowed.size == 0:
                raise ValueError(f"{zerocost_store} holds no zero-cost scores of {oracle.problem.dataset}")

    def __call__(self, archs: np.ndarray) -> np.ndarray:
        strings = [self.oracle.arch_string(a) for a in archs.tolist()]
        parts = []
        for name in self.feature_sets:
            if name == "onehot":
                parts.append(encode(self.oracle, archs))
            elif name == "path":
                parts.append(np.stack([path_encoding(s) for s in strings]))
            else:
                assert self._zc is not None
                parts.append(self._zc[archs])
        return np.concatenate(parts, axis=1)

    def random_arch(self, rng: np.random.Generator) -> int:
        if self.allowed is None:
            return random_arch(self.oracle, rng)
        return int(self.allowed[rng.integers(self.allowed.size)])

    def random_archs(self, rng: np.random.Generator, n: int) -> np.ndarray:
        if self.allowed is None:
            return rng.integers(self.oracle.num_archs, size=n)
        return self.allowed[rng.integers(self.allowed.size, size=n)]


def encode(oracle: Oracle, archs: np.ndarray) -> np.ndarray:
    """One-hot op per edge: (n, 6 * 5) floats."""
    codes = np.array([[space.OPS.index(op) for op in space.parse(oracle.arch_string(a))] for a in archs.tolist()])
    onehot = np.zeros((len(archs), space.NUM_EDGES, len(space.OPS)))
    np.put_along_axis(onehot, codes[:, :, None], 1.0, axis=2)
    return onehot.reshape(len(archs), -1)


@functools.cache
def path_encoding(arch_str: str) -> np.ndarray:
    """Which non-`none` op sequence each input-to-output path of the cell carries: 100 indicator columns."""
    real_ops = [op for op in space.OPS if op != "none"]
    edge_of = {edge: i for i, edge in enumerate(space.EDGES)}
    ops = space.parse(arch_str)
    columns, offset = np.zeros(sum(len(real_ops) ** (len(p) - 1) for p in PATHS)), 0
    for path in PATHS:
        on_path = [ops[edge_of[(b, a)]] for a, b in itertools.pairwise(path)]
        if "none" not in on_path:
            index = 0
            for op in on_path:
                index = index * len(real_ops) + real_ops.index(op)
            columns[offset + index] = 1.0
        offset += len(real_ops) ** (len(path) - 1)
    return columns


@functools.cache
def stored_zerocost(path: str, dataset: str, num_archs: int) -> np.ndarray:
    """(archs, proxies) signed-log zero-cost scores a results store holds (NaN: not stored; a failed proxy: the
    column's finite minimum minus one); one setting per proxy."""
    store = Store(path, readonly=True)
    by_proxy: dict[str, str] = {}
    for key, record in sorted(store.list_configs().items()):
        proxy = record.get("estimator")
        if proxy in ZC_PROXIES and dataset in store.datasets(key):
            if proxy in by_proxy:
                raise ValueError(f"{path} holds {proxy} at two settings; give a store with one")
            by_proxy[proxy] = key
    if not by_proxy:
        raise ValueError(f"{path} holds no zero-cost scores ({', '.join(sorted(ZC_PROXIES))}) of {dataset}")
    columns = []
    for proxy in sorted(by_proxy):
        table = store.results(by_proxy[proxy], dataset)
        column = np.full(num_archs, np.nan)
        with np.errstate(invalid="ignore"):
            column[table.arch] = np.sign(table.score) * np.log1p(np.abs(table.score))
        failed = np.zeros(num_archs, dtype=bool)
        failed[table.arch] = ~np.isfinite(table.score)
        finite = column[np.isfinite(column)]
        column[failed] = finite.min() - 1.0 if finite.size else 0.0
        columns.append(column)
    return np.stack(columns, axis=1)


@register("surrogate", family="query")
def surrogate(
    initial: int = 10,
    batch: int = 5,
    candidates: int = 500,
    parents: int = 5,
    features: str = "onehot",
    acquisition: str = "greedy",
    beta: float = 1.0,
    zerocost_store: str | None = None,
) -> SurrogateSearch:
    """Surrogate search (PNAS / BANANAS spirit): a random forest over arch features picks the next ones to query."""
    return SurrogateSearch(initial, batch, candidates, parents, features=features, acquisition=acquisition,
                           beta=beta, zerocost_store=zerocost_store)  # fmt: skip
