"""Learning-curve extrapolation in the spirit of Baker et al. 2017 ("Accelerating Neural Architecture Search using
Performance Prediction"): a regressor on architecture features plus the first k epochs of the validation curve
(values, first and second differences), fit on a few fully observed curves, predicts the final accuracy.
Baker et al. used nu-SVR; with 50 fit curves on NB201, gradient boosting ranks best and nu-SVR ranks below the naive
"accuracy after epoch k" baseline (results/curve_validation.md), so gradient boosting is the default.

`CurveExtrapolator` works on any curves: stored ones (`stored_curves`) or the per-epoch curves of live (BPE) runs,
as long as it is fit on curves of the same training setting as those it predicts from (the first k epochs of a
200-epoch schedule are not a 10-epoch schedule). The registered `curve-k<k>` estimators use stored 200-epoch curves:
the ground truth's where it has them, else the reference CSV of 200 archs (cifar10-valid only).

One curve is one training run's, and each is paid for. The ground truth stores per-seed curves: an arch's curve is
one seed's (drawn reproducibly from the estimate's seed among the seeds with a complete curve; `choose_seeds`), one
run paid, and the estimation says which seed it read (`Reads`), so the evaluation can hold that seed out. Where only
seed-mean curves exist (the reference CSV, or a ground truth's seed -1), a curve averages `mean_runs` runs (NB201's
3 seeds by default) and all of them are paid. Cost per estimated arch, in NB201's units (device `NB201_GPU`):
- seconds: k/200 of NB201's recorded 200-epoch training seconds per run paid, plus an equal share of the full
  trainings of the fit set (each fit curve's runs paid in full); recorded evaluation seconds are not included;
- training multiply-adds: forward multiply-adds of the arch at NB201 size (C=16, N=5, the dataset's resolution) x
  NB201's train images (cifar10-valid 25,000; cifar10 and cifar100 50,000; ImageNet16-120 151,700) x k epochs x 3
  (forward + backward) x runs paid, plus the fit set's share (200 epochs per fit run);
- evaluation multiply-adds: the evaluations the curve points read needed: NB201 scored its selection split after
  every epoch (x-valid: cifar10-valid 25,000, cifar100 5,000, ImageNet16-120 3,000 images; cifar10's ori-test
  10,000), so forward multiply-adds x those images x k x runs paid, plus the fit set's share (200 epochs per run);
  NB201's per-epoch evaluations of its other splits are not counted, as the estimator reads none of them.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from estimators import register
from harness import counts, paths, space
from harness.checks import require_int
from harness.datasets import NUM_CLASSES, RESOLUTION, SELECTION_IMAGES, TRAIN_IMAGES, default_split
from harness.estimation import NB201_GPU, Estimation, Reads
from harness.groundtruth import GroundTruth, schema
from harness.train import PASSES_PER_IMAGE

MODELS: tuple[str, ...] = ("svr", "random_forest", "gradient_boosting")
CURVES_CSV = "nb201/cifar10-valid-curves-200archs.csv"
"""Reference file of 200 seed-mean 200-epoch cifar10-valid x-valid curves, under the shared data folder."""
CSV_DATASET = "cifar10-valid"
HP = 200
MEAN_RUNS = 3
"""Runs behind a seed-mean curve by default: NB201 trained every arch with three seeds."""
_SVR_GRID = {"regressor__nusvr__C": [0.1, 1.0, 10.0, 100.0], "regressor__nusvr__gamma": ["scale", 0.01, 0.001]}
_MIN_FOR_CV = 10


def arch_features(arch_strs: Sequence[str], num_classes: int = 10, resolution: int = 32) -> np.ndarray:
    """One row per arch: one-hot op of each edge (6 x 5), then params and FLOPs (millions) of the NB201 network."""
    rows = []
    for arch in arch_strs:
        one_hot = np.zeros((space.NUM_EDGES, len(space.OPS)))
        one_hot[np.arange(space.NUM_EDGES), [space.OPS.index(op) for op in space.parse(arch)]] = 1
        size = [
            counts.params(arch, num_classes=num_classes),
            counts.flops(arch, num_classes=num_classes, resolution=resolution),
        ]
        rows.append(np.concatenate([one_hot.ravel(), size]))
    return np.asarray(rows, dtype=np.float64).reshape(len(rows), space.NUM_EDGES * len(space.OPS) + 2)


def curve_features(curves: Sequence[Sequence[float]] | np.ndarray, k: int) -> np.ndarray:
    """First k values of each curve, their first and second differences; curves shorter than k are an error."""
    _check_k(k)
    short = [i for i, c in enumerate(curves) if len(c) < k]
    if short:
        raise ValueError(f"curves must have at least k={k} epochs; curve(s) {short[:5]} are shorter")
    head = np.asarray([np.asarray(c, dtype=np.float64)[:k] for c in curves]).reshape(len(curves), k)
    return np.hstack([head, np.diff(head, n=1, axis=1), np.diff(head, n=2, axis=1)])


def _check_k(k: int) -> None:
    require_int("", "k", k, 1, HP - 1, allowed=f"an int in 1..{HP - 1} (observed epochs)")


class CurveExtrapolator:
    """Fit on (arch features, full curves, final accuracies); predict finals from arch features and partial curves."""

    def __init__(self, k: int, model: str = "gradient_boosting", seed: int = 0) -> None:
        _check_k(k)
        if model not in MODELS:
            raise ValueError(f"model must be one of {', '.join(MODELS)}, got {model!r}")
        self.k, self.model, self.seed = k, model, seed
        self._regressor = None

    def fit(
        self, arch_feats: np.ndarray, curves: Sequence[Sequence[float]] | np.ndarray, finals: np.ndarray
    ) -> CurveExtrapolator:
        """Fit on fully observed runs: `curves` need at least k epochs, `finals` are the accuracies to predict."""
        x = self._features(arch_feats, curves)
        y = np.asarray(finals, dtype=np.float64)
        if len(y) != len(x) or len(y) < 2 or not np.all(np.isfinite(x)) or not np.all(np.isfinite(y)):
            raise ValueError(
                f"need at least 2 runs with finite features and finals, got {len(x)} runs, {len(y)} finals"
            )
        self._regressor = self._make(len(y)).fit(x, y)
        return self

    def predict(self, arch_feats: np.ndarray, partial_curves: Sequence[Sequence[float]] | np.ndarray) -> np.ndarray:
        """Predicted final accuracy per run from its first k epochs; NaN where those contain NaN (failed runs)."""
        if self._regressor is None:
            raise ValueError("fit the extrapolator before predicting")
        x = self._features(arch_feats, partial_curves)
        out = np.full(len(x), np.nan)
        ok = np.all(np.isfinite(x), axis=1)
        if ok.any():
            out[ok] = self._regressor.predict(x[ok])
        return out

    def _features(self, arch_feats: np.ndarray, curves: Sequence[Sequence[float]] | np.ndarray) -> np.ndarray:
        arch_feats = np.asarray(arch_feats, dtype=np.float64)
        if arch_feats.ndim != 2 or len(arch_feats) != len(curves):
            raise ValueError(
                f"arch features must be (runs, features) with one row per curve, got {arch_feats.shape} "
                f"for {len(curves)} curves"
            )
        return np.hstack([arch_feats, curve_features(curves, self.k)])

    def _make(self, n: int):
        from sklearn.compose import TransformedTargetRegressor
        from sklearn.ensemble import GradientBoostingRegressor, RandomForestRegressor
        from sklearn.model_selection import GridSearchCV, KFold
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler
        from sklearn.svm import NuSVR

        if self.model == "random_forest":
            return RandomForestRegressor(n_estimators=300, min_samples_leaf=2, random_state=self.seed)
        if self.model == "gradient_boosting":
            return GradientBoostingRegressor(
                n_estimators=300, learning_rate=0.05, max_depth=3, subsample=0.8, random_state=self.seed
            )
        svr = TransformedTargetRegressor(make_pipeline(StandardScaler(), NuSVR(nu=0.5)), transformer=StandardScaler())
        if n < _MIN_FOR_CV:
            return svr
        folds = KFold(n_splits=5, shuffle=True, random_state=self.seed)
        return GridSearchCV(svr, _SVR_GRID, cv=folds, scoring="neg_mean_squared_error")


@dataclass(frozen=True, eq=False)
class StoredCurves:
    """Per-epoch accuracy of the archs that have a stored 200-epoch curve: one run's, or a seed mean of several."""

    archs: np.ndarray
    curves: np.ndarray
    """(archs, epochs) accuracy in % after each epoch; at least the epochs asked for."""
    finals: np.ndarray
    """Final accuracy of the same run (or seed mean) as the curve."""
    seeds: np.ndarray
    """Seed of each curve; -1 (`schema.MEAN_SEED`) for a seed mean."""
    runs: np.ndarray
    """Training runs behind each curve (1 for a seed's, `mean_runs` for a seed mean): the runs paid to read it."""
    source: str

    def rows(self, archs: np.ndarray) -> np.ndarray:
        """Position of each arch in this table, -1 where it has no curve."""
        where = {int(a): i for i, a in enumerate(self.archs)}
        return np.array([where.get(int(a), -1) for a in archs], dtype=np.int64)


def choose_seeds(available: np.ndarray, seed: int) -> np.ndarray:
    """Per row (arch), the column of one of its available seeds, drawn reproducibly from `seed`; -1 where none is.

    Row i's draw depends only on `seed`, i and row i itself, so an arch reads the same seed whatever else is asked.
    """
    available = np.asarray(available, dtype=bool).reshape(len(available), -1)
    counts = available.sum(axis=1)
    draw = np.floor(np.random.default_rng(seed).random(len(available)) * counts).astype(np.int64)
    chosen = available & (np.cumsum(available, axis=1) - 1 == draw[:, None])
    return np.where(counts > 0, chosen.argmax(axis=1), -1)


def stored_curves(
    gt: GroundTruth,
    dataset: str,
    epochs: int,
    csv_path: str | os.PathLike[str] | None = None,
    seed: int = 0,
    mean_runs: int = MEAN_RUNS,
) -> StoredCurves:
    """First `epochs` epochs and final value of one stored hp-200 curve per arch on the dataset's selection split.

    The ground truth's curves where it has them (one seed's, `choose_seeds(..., seed)`; a seed mean only where no
    seed has a complete curve); for cifar10-valid, the reference CSV's seed means fill the other archs.
    """
    split = default_split(dataset)
    archs, curves, finals, seeds, runs, sources = [], [], [], [], [], []
    try:
        head = np.stack([gt.metric(dataset, split, "acc", hp=HP, epoch=e, seeds="all") for e in range(epochs)], axis=2)
        final = gt.metric(dataset, split, "acc", hp=HP, seeds="all")
        stored = np.asarray(gt.seeds(dataset, split, "acc", hp=HP))
        complete = np.all(np.isfinite(head), axis=2) & np.isfinite(final)
        column = choose_seeds(complete & (stored != schema.MEAN_SEED), seed)
        if schema.MEAN_SEED in stored:
            mean = int(np.flatnonzero(stored == schema.MEAN_SEED)[0])
            column = np.where((column < 0) & complete[:, mean], mean, column)
        have = np.flatnonzero(column >= 0)
        read = stored[column[have]]
        archs, curves, finals = list(have), list(head[have, column[have]]), list(final[have, column[have]])
        seeds, runs = list(read), list(np.where(read == schema.MEAN_SEED, mean_runs, 1))
        sources.append(f"ground truth {gt.path.name} ({len(have)} archs, one seed each where it has seeds)")
    except ValueError:
        pass
    if dataset == CSV_DATASET:
        path = Path(csv_path) if csv_path is not None else paths.shared_data_dir() / CURVES_CSV
        if path.is_file():
            known = set(archs)
            extra = [(a, c) for a, c in _read_csv(path, gt) if a not in known]
            archs += [a for a, _ in extra]
            curves += [c[:epochs] for _, c in extra]
            finals += [c[-1] for _, c in extra]
            seeds += [schema.MEAN_SEED] * len(extra)
            runs += [mean_runs] * len(extra)
            sources.append(f"{path.name} ({len(extra)} archs, seed means of {mean_runs} runs)")
    if not archs:
        raise ValueError(
            f"no stored {HP}-epoch {split} curves for {dataset}: build the ground truth from a source with per-epoch "
            f"curves (`bpebench data build --source nb201-pth` or `nats`) or, for {CSV_DATASET}, provide {CURVES_CSV} "
            f"under {paths.shared_data_dir()} (${paths.SHARED_DATA_ENV})"
        )
    return StoredCurves(
        np.asarray(archs, dtype=np.int64),
        np.asarray(curves),
        np.asarray(finals),
        np.asarray(seeds, dtype=np.int64),
        np.asarray(runs, dtype=np.int64),
        "; ".join(sources),
    )


def _read_csv(path: Path, gt: GroundTruth) -> list[tuple[int, np.ndarray]]:
    """(arch index, full validation curve) of each row of the reference curves CSV."""
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    missing = {"arch_str", "val_accs"} - set(rows[0] if rows else {})
    if missing:
        raise ValueError(f"{path} lacks column(s) {sorted(missing)}")
    return [(gt.index(row["arch_str"]), np.asarray(json.loads(row["val_accs"]), dtype=np.float64)) for row in rows]


@dataclass(frozen=True)
class CurveSettings:
    """Observed epochs k, regressor, number of fully observed curves to fit on, and an optional curves CSV."""

    k: int = 20
    model: str = "gradient_boosting"
    """Regressor: gradient_boosting (default, best in benchmarks/curve_validation.py), random_forest, or svr (nu-SVR,
    Baker et al.'s choice)."""
    n_train: int = 50
    curves_csv: str | None = None
    """Curves CSV (default: the shared reference file), used for cifar10-valid archs without ground-truth curves."""
    mean_runs: int = MEAN_RUNS
    """Runs averaged in a seed-mean curve (the CSV's; NB201's 3 seeds), all paid when one is read."""

    def __post_init__(self) -> None:
        _check_k(self.k)
        if self.model not in MODELS:
            raise ValueError(f"model must be one of {', '.join(MODELS)}, got {self.model!r}")
        require_int("CurveSettings", "n_train", self.n_train, 2)
        require_int("CurveSettings", "mean_runs", self.mean_runs, 1)


@dataclass(frozen=True)
class CurveEstimator:
    """Predicts final accuracy from the first k epochs of stored curves; fit on n_train other archs' full curves.

    Cost per arch (module docstring): k/200 of a recorded 200-epoch training per run paid, plus the full trainings of
    the fit set shared over the archs estimated. Archs without a stored curve get a NaN score and cost 0; if none has
    one, a ValueError.
    """

    gt: GroundTruth
    name: str
    settings: CurveSettings

    @property
    def config(self) -> dict:
        return {"k": self.settings.k, "model": self.settings.model, "n_train": self.settings.n_train}

    def estimate(self, archs: np.ndarray, dataset: str, seed: int = 0) -> Estimation:
        s = self.settings
        archs = np.asarray(archs)
        table = stored_curves(self.gt, dataset, s.k, s.curves_csv, seed, s.mean_runs)
        rows = table.rows(archs)
        have = rows >= 0
        if not have.any():
            raise ValueError(f"none of the {len(archs)} archs asked for has a stored curve; {table.source}")
        pool = np.setdiff1d(np.arange(len(table.archs)), rows[have])
        if len(pool) < s.n_train:
            raise ValueError(
                f"{self.name} needs {s.n_train} stored curves of archs not being estimated to fit on; {table.source} "
                f"has {len(pool)} (ask for fewer archs or set n_train lower)"
            )
        fit_rows = np.sort(np.random.default_rng(seed).choice(pool, size=s.n_train, replace=False))
        features = arch_features(
            [self.gt.arch_strings[int(a)] for a in table.archs], NUM_CLASSES[dataset], RESOLUTION[dataset]
        )
        model = CurveExtrapolator(s.k, s.model, seed).fit(
            features[fit_rows], table.curves[fit_rows], table.finals[fit_rows]
        )
        scores = np.full(len(archs), np.nan)
        scores[have] = model.predict(features[rows[have]], table.curves[rows[have]])
        read = rows[have]
        run_seconds = self.gt.train_seconds(dataset, hp=HP)
        forward = self._forward_macs(table.archs, dataset)
        per_epoch = {
            "seconds": run_seconds[table.archs] / HP,
            "train_macs": forward * TRAIN_IMAGES[dataset] * PASSES_PER_IMAGE,
            "eval_macs": forward * SELECTION_IMAGES[dataset],
        }
        costs = {}
        for unit, values in per_epoch.items():
            fit_share = float(np.nansum(values[fit_rows] * HP * table.runs[fit_rows])) / have.sum()
            costs[unit] = np.zeros(len(archs))
            costs[unit][have] = values[read] * s.k * table.runs[read] + fit_share
        metadata = {
            "source": table.source,
            "fit_archs": table.archs[fit_rows].tolist(),
            "fit_cost_seconds": float(np.nansum(run_seconds[table.archs[fit_rows]] * table.runs[fit_rows])),
            "n_without_curve": int((~have).sum()),
            "mean_runs": s.mean_runs,
            "n_seed_mean_curves": int((table.seeds[read] == schema.MEAN_SEED).sum()),
        }
        seeds = np.full(len(archs), -1, dtype=np.int64)
        seeds[have] = table.seeds[read]
        reads = Reads(default_split(dataset), "acc", HP, seeds)
        return Estimation(
            archs, scores, costs["seconds"], NB201_GPU, costs["train_macs"], costs["eval_macs"], metadata, reads
        )

    def _forward_macs(self, archs: np.ndarray, dataset: str) -> np.ndarray:
        """Multiply-adds of one forward pass of each arch at NB201 size (C=16, N=5) on `dataset`."""
        strings = self.gt.arch_strings
        return np.array(
            [
                counts.flops(strings[int(a)], num_classes=NUM_CLASSES[dataset], resolution=RESOLUTION[dataset]) * 1e6
                for a in archs
            ]
        )


def _settings(k: int, options: dict) -> CurveSettings:
    """Settings from factory options (k is fixed by the estimator's name); unknown options are a ValueError."""
    allowed = [f.name for f in fields(CurveSettings) if f.name != "k"]
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ValueError(f"unknown curve option(s) {', '.join(unknown)}; allowed: {', '.join(allowed)}")
    return CurveSettings(k=k, **options)


@register("curve-k10", family="curve")
def curve_k10(gt: GroundTruth, **options) -> CurveEstimator:
    """Final accuracy extrapolated from the first 10 of 200 epochs (Baker et al. 2017), stored curves."""
    return CurveEstimator(gt, "curve-k10", _settings(10, options))


@register("curve-k20", family="curve")
def curve_k20(gt: GroundTruth, **options) -> CurveEstimator:
    """Final accuracy extrapolated from the first 20 of 200 epochs (Baker et al. 2017), stored curves."""
    return CurveEstimator(gt, "curve-k20", _settings(20, options))


@register("curve-k50", family="curve")
def curve_k50(gt: GroundTruth, **options) -> CurveEstimator:
    """Final accuracy extrapolated from the first 50 of 200 epochs (Baker et al. 2017), stored curves."""
    return CurveEstimator(gt, "curve-k50", _settings(50, options))
