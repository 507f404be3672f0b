"""Space-filling designs over a BPE space: a Latin hypercube matched to a pool of candidate configs (one MIP
iteration), and a scrambled Halton sequence (the tabular benchmark: its first N configs stay the same whatever N, so a
table can be extended).

Both work on value positions: dimension i with k_i values sits at (index + 0.5) / k_i in [0, 1], so every value of a
dimension is hit about equally often and the points spread over all dimensions at once.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from searchers.mip.space import DIMENSIONS, BPESpace, Config, config_key

ATTEMPTS = 8
"""Latin hypercubes drawn per design; the one its candidates match best is kept."""


def to_config(space: BPESpace, point: np.ndarray, dims: tuple[str, ...]) -> Config:
    """The config at `point` in [0, 1)^len(dims): each of `dims` at position floor(u * k), the rest at their value."""
    config = {d: space.values[d][0] for d in DIMENSIONS}
    for dim, u in zip(dims, point, strict=True):
        values = space.values[dim]
        config[dim] = values[min(int(u * len(values)), len(values) - 1)]
    return config


def positions(space: BPESpace, configs: Sequence[Config], dims: tuple[str, ...]) -> np.ndarray:
    """(configs, dims) value positions scaled to [0, 1]: (index + 0.5) / k."""
    sizes = np.array([len(space.values[d]) for d in dims], dtype=np.float64)
    codes = np.array([space.encode(c, dims) for c in configs], dtype=np.float64).reshape(len(configs), len(dims))
    return (codes + 0.5) / sizes


def stratified(
    space: BPESpace,
    pool: Sequence[Config],
    n: int,
    rng: np.random.Generator,
    penalty: np.ndarray | None = None,
) -> list[Config]:
    """`n` distinct configs of `pool` (all of it when smaller) that follow a Latin hypercube over `space.varying`:
    each hypercube point takes the nearest unused candidate (distance scaled to [0, 1], plus `penalty` per candidate,
    e.g. a cost bias); of `ATTEMPTS` hypercubes the one matched at the lowest total distance is kept."""
    if len(pool) <= n:
        return [pool[i] for i in rng.permutation(len(pool))]
    dims = space.varying
    if not dims:
        return [pool[i] for i in rng.choice(len(pool), n, replace=False)]
    where = positions(space, pool, dims)
    extra = np.zeros(len(pool)) if penalty is None else np.asarray(penalty, dtype=np.float64)
    best: list[int] = []
    best_total = np.inf
    for _ in range(ATTEMPTS):
        strata = np.stack([rng.permutation(n) for _ in dims], axis=1)
        points = (strata + rng.random(strata.shape)) / n
        distance = np.sqrt(((where[None, :, :] - points[:, None, :]) ** 2).mean(-1)) + extra[None, :]
        picked: list[int] = []
        total = 0.0
        free = np.ones(len(pool), dtype=bool)
        for row in distance:
            choice = int(np.argmin(np.where(free, row, np.inf)))
            picked.append(choice)
            total += row[choice]
            free[choice] = False
        if total < best_total:
            best, best_total = picked, total
    return [pool[i] for i in best]


def halton(space: BPESpace, n: int, seed: int = 0) -> list[Config]:
    """The first `n` distinct configs of a scrambled Halton sequence over `space`'s varying dimensions (a prefix of
    the sequence for a larger `n`: extending a design keeps every config it had)."""
    from scipy.stats import qmc

    dims = space.varying
    if n > space.size:
        raise ValueError(f"a design of {n} distinct configs needs a space of at least {n}; this one has {space.size}")
    sampler = qmc.Halton(d=max(1, len(dims)), scramble=True, seed=seed)
    seen: dict[tuple, Config] = {}
    while len(seen) < n:
        for point in sampler.random(n):
            config = to_config(space, point[: len(dims)], dims)
            seen.setdefault(config_key(config), config)
            if len(seen) == n:
                break
    return list(seen.values())
