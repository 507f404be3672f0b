"""The estimator protocol: score archs on a dataset with a seed, report the cost of doing so."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np


@dataclass(frozen=True)
class Estimation:
    """Scores (higher = better, NaN = failed) and cost in seconds, one per arch asked for."""

    archs: np.ndarray
    scores: np.ndarray
    costs: np.ndarray
    metadata: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not (len(self.archs) == len(self.scores) == len(self.costs)):
            raise ValueError(
                f"archs, scores and costs must have equal length, got {len(self.archs)}, {len(self.scores)}, "
                f"{len(self.costs)}"
            )


@runtime_checkable
class Estimator(Protocol):
    """Anything that scores arch indices; `name` is its registry name, `config` what makes its scores differ."""

    name: str

    @property
    def config(self) -> dict: ...

    def estimate(self, archs: np.ndarray, dataset: str, seed: int = 0) -> Estimation: ...
