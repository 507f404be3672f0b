"""Predicted seconds to evaluate a BPE config on an arch sample: work counted from FLOPs, rates fitted on measurements.

Work features of one arch under a config (F = NB201 multiply-adds of one forward pass at the config's channels, cells
and resolution, averaged over a few reference archs; n = train images kept by `fraction`):
- training multiply-adds  F x n x epochs x 3 (forward plus a backward of about two forwards),
- optimizer steps         epochs x ceil(n / batch_size) (per-step overhead: what makes small batches slow),
- evaluation multiply-adds F x eval images x evaluations (one after the last epoch, as a BPE runs by default; one
  per epoch with `evaluate_every_epoch`); eval images = the config's `eval_images` when set, else the whole split.

Predicted cost = archs x (features . rates). Before any measurement the rates are priors for one CPU core; `fit`
replaces them with a non-negative least-squares fit of the measured costs (relative error, so cheap and expensive
configs weigh alike), or with one common scale factor while there are fewer measurements than features.
Precision is not modelled (its configs predict alike; the measurements tell them apart only through the fit).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

import numpy as np
from scipy.optimize import nnls

from harness import network
from harness.checks import require_int

FEATURES: tuple[str, ...] = ("train_macs", "steps", "eval_macs")
PRIOR_RATES: tuple[float, ...] = (1 / 3e9, 3e-3, 1 / 3e9)
"""Seconds per training multiply-add, per optimizer step, per evaluation multiply-add (one CPU core, measured)."""
PASSES_PER_IMAGE = 3


@lru_cache(maxsize=4096)
def _flops(arch: str, channels: int, cells: int, num_classes: int, resolution: int) -> float:

    return network.flops(arch, channels, cells, num_classes, resolution) * 1e6


def macs_rates(full_macs: float) -> tuple[float, ...]:
    """Rates that price work in multiply-adds relative to `full_macs` (full training of the same archs)."""
    if not (math.isfinite(full_macs) and full_macs > 0):
        raise ValueError(f"full-training multiply-adds must be a finite number > 0, got {full_macs}")
    return (1 / full_macs, 0.0, 1 / full_macs)


@dataclass(frozen=True)
class CostModel:
    """Seconds to evaluate a config on `n_archs` archs, from work features and fitted rates."""

    reference_archs: tuple[str, ...]
    """Arch strings whose mean FLOPs stand for the sample (a few of its archs)."""
    num_classes: int
    train_images: int
    eval_images: int
    """Images of the eval split; a config's `eval_images` (when > 0) scores that many of them instead."""
    n_archs: int
    evaluate_every_epoch: bool = False
    """Evaluate after every epoch (a BPE with `curve=True`); by default only after the last, as `bpe` runs."""
    rates: tuple[float, ...] = PRIOR_RATES
    fitted_on: int = 0
    """Measurements behind `rates` (0 = priors)."""
    prior: tuple[float, ...] = PRIOR_RATES
    """Rates before any measurement, in the unit costs are measured in (`PRIOR_RATES`: seconds on one CPU core;
    `macs_rates`: multiply-adds relative to full training)."""

    def __post_init__(self) -> None:
        if not self.reference_archs:
            raise ValueError("cost model needs at least one reference arch")
        for name in ("num_classes", "train_images", "eval_images", "n_archs"):
            require_int("CostModel", name, getattr(self, name), minimum=1)
        for name in ("rates", "prior"):
            rates = getattr(self, name)
            if len(rates) != len(FEATURES) or any(not math.isfinite(r) or r < 0 for r in rates):
                raise ValueError(f"CostModel.{name} must be {len(FEATURES)} finite numbers >= 0, got {rates}")

    def macs_per_image(self, config: Mapping[str, Any]) -> float:
        """Mean forward multiply-adds of the reference archs under `config`."""
        return float(
            np.mean(
                [
                    _flops(a, config["channels"], config["cells"], self.num_classes, config["resolution"])
                    for a in self.reference_archs
                ]
            )
        )

    def features(self, config: Mapping[str, Any]) -> np.ndarray:
        """Work of evaluating one arch under `config`, in the units of `FEATURES`."""
        forward = self.macs_per_image(config)
        images = max(1, round(config["fraction"] * self.train_images))
        evaluations = config["epochs"] if self.evaluate_every_epoch else 1
        eval_images = config.get("eval_images") or self.eval_images
        return np.array(
            [
                forward * images * config["epochs"] * PASSES_PER_IMAGE,
                config["epochs"] * math.ceil(images / config["batch_size"]),
                forward * eval_images * evaluations,
            ]
        )

    def predict(self, config: Mapping[str, Any]) -> float:
        """Seconds to evaluate `config` on all `n_archs` archs."""
        return float(self.n_archs * self.features(config) @ np.asarray(self.rates))

    def fit(self, configs: Sequence[Mapping[str, Any]], seconds: Sequence[float]) -> CostModel:
        """This model with rates fitted to measured total seconds of `configs` (priors kept when none usable)."""
        pairs = [(c, s) for c, s in zip(configs, seconds, strict=True) if math.isfinite(s) and s > 0]
        if not pairs:
            return replace(self, rates=self.prior, fitted_on=0)
        work = np.array([self.n_archs * self.features(c) for c, _ in pairs])
        measured = np.array([s for _, s in pairs])
        prior = work @ np.asarray(self.prior)
        scale = float(np.sum(measured / prior) / len(pairs))
        rates = tuple(r * scale for r in self.prior)
        if len(pairs) >= len(FEATURES):
            # Relative least squares: row i divided by its measurement; columns scaled to comparable size (a
            # feature with prior rate 0 stays at 0).
            column_scale = np.asarray(self.prior) * scale
            design = work * column_scale / measured[:, None]
            solution, _ = nnls(design, np.ones(len(pairs)))
            if np.any(solution > 0):
                rates = tuple(float(r) for r in solution * column_scale)
        return replace(self, rates=rates, fitted_on=len(pairs))

    def to_dict(self) -> dict:
        return {
            "features": list(FEATURES),
            "rates": list(self.rates),
            "prior": list(self.prior),
            "fitted_on": self.fitted_on,
            "reference_archs": list(self.reference_archs),
            "train_images": self.train_images,
            "eval_images": self.eval_images,
            "n_archs": self.n_archs,
            "evaluate_every_epoch": self.evaluate_every_epoch,
        }
