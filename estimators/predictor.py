"""Learned performance predictors and estimator ensembles: a regressor fitted on `k` labelled archs predicts the rest.

`predictor`: `k` archs are drawn (seeded) among those *not* asked for, labelled by an estimator (`label`: one seed of
full 200-epoch training by default, the 12-epoch table, or a live BPE), described by a feature set, and a regressor
fitted on them scores the asked archs. Feature sets (comma-separated in `features`):

- `onehot`: the op of each of the 6 edges, one-hot (30 columns);
- `path`: BANANAS-style path encoding: for each of the 4 input-to-output paths of the cell (0-3, 0-1-3, 0-2-3,
  0-1-2-3), which sequence of non-`none` ops it carries (4 + 16 + 16 + 64 = 100 columns);
- `size`: recorded parameters and NB201 forward multiply-adds (free table reads);
- `zc`: synflow, jacob_cov, naswot, snip and grad_norm at the zero-cost estimators' default size (seed 0), read from
  the execution's results store (the stored table, `benchmarks/zerocost_table.py`) and computed there for asked archs
  it lacks (real images needed); fitted archs are drawn among the archs it holds;
- `naslib`: the 12 scores of NASLib's reference file (`nb201/naslib-zc-nasbench201-725.json` in the shared data, about
  725 archs); fitted and scored archs are those it holds, others score NaN;
- `est:NAME`: the score of any registered estimator NAME (a live BPE, `tabular-hp12`, a proxy), paid per arch.

Zero-cost values enter as sign(x) log(1 + |x|); a value that is not finite (a proxy of a cell that ignores its
input) becomes the column's finite minimum minus one. Regressors: `rf` (scikit-learn random forest), `gbr`
(scikit-learn gradient boosting) and `lgbm` (LightGBM, the gradient-boosted-tree library NAS predictor studies use;
chosen over XGBoost because its wheel is a few MB with no GPU runtime dependency, where XGBoost's Linux wheel pulls
NCCL, hundreds of MB: CI installs it in seconds).

Cost: the labels are paid: the label estimator's cost of the `k` fitted archs, plus every feature's cost on the
fitted and the scored archs, is spread evenly over the scored archs, so `costs.sum()` is the whole bill. Seconds are
summed only on the label estimator's device (`Estimation.device`); seconds on another device (zero-cost proxies on a
CPU) are listed in `metadata["seconds_elsewhere"]`, never added; multiply-adds of everything are in the columns.
`metadata["fitted_archs"]` lists the fitted archs, disjoint from the scored ones.

`vote`: the rank-vote of several estimators (mean rank of each arch among the asked archs; Abdelfattah et al.'s
synflow + jacob_cov + snip vote by default); its cost is the sum of its members' costs.
"""

from __future__ import annotations

import functools
import itertools
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import estimators
from estimators import register, zerocost
from harness import paths, space
from harness import store as results_store
from harness.estimation import NO_DEVICE, Estimation, Execution
from harness.groundtruth import GroundTruth
from harness.lazy import lazy
from harness.registry import configured
from harness.stored import estimator_key, stored_estimation

stats = lazy("scipy.stats")
ensemble = lazy("sklearn.ensemble")

REGRESSORS: tuple[str, ...] = ("rf", "gbr", "lgbm")
STATIC_FEATURES: tuple[str, ...] = ("onehot", "path", "size", "zc", "naslib")
ESTIMATOR_FEATURE = "est:"
ZC_PROXIES: tuple[str, ...] = ("synflow", "jacob_cov", "naswot", "snip", "grad_norm")
ZC_SEED = 0
"""Seed of the stored zero-cost table (network initialisation and batch)."""
NASLIB_FILE = "nb201/naslib-zc-nasbench201-725.json"
NASLIB_SCORES: tuple[str, ...] = (
    "synflow", "snip", "grasp", "fisher", "grad_norm", "jacov", "nwot",
    "epe_nas", "l2_norm", "plain", "flops", "params",
)  # fmt: skip
NASLIB_DATASETS = {"cifar10-valid": "cifar10", "cifar100": "cifar100", "ImageNet16-120": "ImageNet16-120"}
NASLIB_DEVICE = "naslib (GPU not recorded)"
PATHS: tuple[tuple[int, ...], ...] = ((0, 3), (0, 1, 3), (0, 2, 3), (0, 1, 2, 3))
"""The input-to-output paths of an NB201 cell, as node sequences."""
_SEED_STREAM = 16
"""Mixed into the estimate's seed for the draw of fitted archs and the regressor's randomness."""


def _parse_features(text: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    if not names or len(set(names)) != len(names):
        raise ValueError(f"features must be distinct comma-separated names, got {text!r}")
    for name in names:
        if name.startswith(ESTIMATOR_FEATURE):
            estimators.entry(name[len(ESTIMATOR_FEATURE) :])  # an unknown estimator names the registered ones
        elif name not in STATIC_FEATURES:
            raise ValueError(
                f"unknown feature set {name!r}; allowed: {', '.join(STATIC_FEATURES)}, or est:NAME of an estimator"
            )
    return names


@dataclass(frozen=True)
class PredictorConfig:
    """A learned predictor: regressor, feature sets, number of labelled archs and the estimator labelling them."""

    regressor: str = field(default="rf", metadata={"help": f"regressor: {', '.join(REGRESSORS)}"})
    features: str = field(
        default="onehot,path,size",
        metadata={"help": f"comma-separated feature sets: {', '.join(STATIC_FEATURES)}, est:NAME"},
    )
    k: int = field(default=100, metadata={"help": "labelled archs the regressor is fitted on"})
    label: str = field(default="tabular-hp200-seed", metadata={"help": "estimator whose scores label the fitted archs"})
    trees: int = field(default=200, metadata={"help": "trees (rf) or boosting rounds (gbr, lgbm)"})

    def __post_init__(self) -> None:
        if self.regressor not in REGRESSORS:
            raise ValueError(
                f"PredictorConfig.regressor = {self.regressor!r} is invalid; allowed: {', '.join(REGRESSORS)}"
            )
        _parse_features(self.features)
        for name, least in (("k", 2), ("trees", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise ValueError(f"PredictorConfig.{name} = {value!r} is invalid: must be an int >= {least}")
        estimators.entry(self.label)

    @property
    def feature_sets(self) -> tuple[str, ...]:
        return _parse_features(self.features)


@dataclass(frozen=True)
class Block:
    """Feature columns of some archs (rows: the archs asked for, NaN rows where a source lacks an arch), and their
    cost per arch: seconds on `device`, multiply-adds."""

    values: np.ndarray
    seconds: np.ndarray
    device: str
    macs: np.ndarray


def onehot(arch_strings: list[str]) -> np.ndarray:
    """One-hot op per edge: (n, 6 * 5)."""
    codes = np.array([[space.OPS.index(op) for op in space.parse(a)] for a in arch_strings], dtype=np.int64)
    encoded = np.zeros((len(arch_strings), space.NUM_EDGES, len(space.OPS)))
    np.put_along_axis(encoded, codes[:, :, None], 1.0, axis=2)
    return encoded.reshape(len(arch_strings), -1)


def path_encoding(arch_strings: list[str]) -> np.ndarray:
    """Which non-`none` op sequence each input-to-output path carries: (n, 100)."""
    real_ops = [op for op in space.OPS if op != "none"]
    edge_of = {edge: i for i, edge in enumerate(space.EDGES)}
    widths = [len(real_ops) ** (len(p) - 1) for p in PATHS]
    offsets = np.concatenate([[0], np.cumsum(widths)[:-1]])
    encoded = np.zeros((len(arch_strings), sum(widths)))
    for row, arch in enumerate(arch_strings):
        ops = space.parse(arch)
        for path, offset in zip(PATHS, offsets, strict=True):
            on_path = [ops[edge_of[(b, a)]] for a, b in itertools.pairwise(path)]
            if "none" in on_path:
                continue
            index = 0
            for op in on_path:
                index = index * len(real_ops) + real_ops.index(op)
            encoded[row, offset + index] = 1.0
    return encoded


def signed_log(values: np.ndarray) -> np.ndarray:
    """sign(x) log(1 + |x|), keeping NaN and infinities."""
    with np.errstate(invalid="ignore"):
        return np.sign(values) * np.log1p(np.abs(values))


def impute(columns: np.ndarray) -> np.ndarray:
    """Each column's non-finite entries replaced by its finite minimum minus one (0 for an all-missing column)."""
    out = np.array(columns, dtype=np.float64, copy=True)
    for j in range(out.shape[1]):
        bad = ~np.isfinite(out[:, j])
        if bad.any():
            finite = out[~bad, j]
            out[bad, j] = finite.min() - 1.0 if finite.size else 0.0
    return out


def naslib_path() -> Path:
    """Where NASLib's reference zero-cost file lies in the shared data."""
    return paths.shared_data_dir() / NASLIB_FILE


@functools.cache
def _naslib_table(path: str, dataset: str, arch_strings: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """(values (archs, 12), NaN where the file lacks an arch; seconds per arch) of NASLib's file for `dataset`."""
    with open(path) as handle:
        content = json.load(handle)
    index = {a: i for i, a in enumerate(arch_strings)}
    values = np.full((len(arch_strings), len(NASLIB_SCORES)), np.nan)
    seconds = np.zeros(len(arch_strings))
    for key, record in content[NASLIB_DATASETS[dataset]].items():
        arch = index[zerocost.naslib_arch(key)]
        values[arch] = [record[s]["score"] for s in NASLIB_SCORES]
        seconds[arch] = sum(record[s]["time"] for s in NASLIB_SCORES)
    return values, seconds


def naslib_block(gt: GroundTruth, dataset: str, archs: np.ndarray) -> Block:
    """NASLib's 12 reference scores of `archs` (signed log; NaN rows where the file lacks an arch)."""
    path = naslib_path()
    if not path.exists():
        raise ValueError(
            f"feature set 'naslib' reads {path}, which is absent; "
            f"set ${paths.SHARED_DATA_ENV} to the shared data folder"
        )
    if dataset not in NASLIB_DATASETS:
        raise ValueError(f"NASLib's file has no {dataset}; it has {', '.join(NASLIB_DATASETS)}")
    values, seconds = _naslib_table(str(path), dataset, tuple(gt.arch_strings))
    return Block(signed_log(values[archs]), seconds[archs], NASLIB_DEVICE, np.zeros(len(archs)))


def naslib_archs(gt: GroundTruth, dataset: str) -> np.ndarray:
    """The archs NASLib's reference file scores on `dataset`."""
    block = naslib_block(gt, dataset, np.arange(len(gt.arch_strings)))
    return np.flatnonzero(~np.isnan(block.values).all(axis=1))


def zerocost_estimators(gt: GroundTruth, execution: Execution) -> dict[str, zerocost.ZeroCostEstimator]:
    """The registered zero-cost estimator of each `ZC_PROXIES` proxy at its default size, on `execution`."""
    return {p: zerocost.ZeroCostEstimator(gt, p, zerocost.ZeroCostConfig(), execution) for p in ZC_PROXIES}


@dataclass(frozen=True)
class StoredTable:
    """The stored `ZC_PROXIES` values of every arch (seed `ZC_SEED`): NaN where not stored, -inf where a stored proxy
    failed; with each arch's summed seconds (on `device`) and multiply-adds of the stored values."""

    values: np.ndarray
    seconds: np.ndarray
    macs: np.ndarray
    device: str

    @property
    def stored(self) -> np.ndarray:
        """Archs with all five proxies stored."""
        return ~np.isnan(self.values).any(axis=1)


def stored_zerocost(gt: GroundTruth, store: str | os.PathLike[str], dataset: str) -> StoredTable:
    """The stored zero-cost table of `store` (read-only, once per file version)."""
    path = Path(store)
    journal = Path(f"{path}{results_store.JOURNAL_SUFFIX}")
    if not path.exists() and not journal.exists():
        empty = np.full((len(gt.arch_strings), len(ZC_PROXIES)), np.nan)
        return StoredTable(empty, np.zeros(len(empty)), np.zeros(len(empty)), NO_DEVICE)
    stamp = tuple(p.stat().st_mtime_ns if p.exists() else 0 for p in (path, journal))
    return _stored_zerocost(gt, str(path.resolve()), dataset, stamp)


@functools.cache
def _stored_zerocost(gt: GroundTruth, store: str, dataset: str, stamp: tuple[int, ...]) -> StoredTable:
    del stamp  # part of the cache key only
    everything = np.arange(len(gt.arch_strings))
    table = results_store.Store(store, readonly=True)
    values, seconds, macs, devices = [], [], [], set()
    for estimator in zerocost_estimators(gt, Execution()).values():
        stored = stored_estimation(table, estimator_key(estimator), dataset, everything, ZC_SEED)
        missing = np.isnan(stored.costs)
        values.append(np.where(missing, np.nan, np.nan_to_num(stored.scores, nan=-np.inf)))
        seconds.append(np.nan_to_num(stored.costs))
        macs.append(np.nan_to_num(stored.macs))
        devices.add(stored.device)
    device = sorted(devices)[0] if len(devices) == 1 else "mixed: " + ", ".join(sorted(devices))
    return StoredTable(np.stack(values, axis=1), np.sum(seconds, axis=0), np.sum(macs, axis=0), device)


def zerocost_block(gt: GroundTruth, dataset: str, archs: np.ndarray, execution: Execution) -> Block:
    """The five table proxies of `archs` (signed log): read from the execution's store, computed there (through the
    registered zero-cost estimators) for archs it lacks."""
    if execution.store is None:
        raise ValueError("feature set 'zc' reads the zero-cost table from the execution's store: give store=...")
    table = stored_zerocost(gt, execution.store, dataset)
    values, seconds, macs = table.values[archs], table.seconds[archs], table.macs[archs]
    missing = ~table.stored[archs]
    device = table.device
    if missing.any():
        outcomes = [e.estimate(archs[missing], dataset, ZC_SEED) for e in zerocost_estimators(gt, execution).values()]
        values[missing] = np.stack([o.scores for o in outcomes], axis=1)
        seconds[missing] = np.nansum([o.costs for o in outcomes], axis=0)
        macs[missing] = np.nansum([o.macs for o in outcomes], axis=0)
        devices = sorted({o.device for o in outcomes} | ({device} if (~missing).any() else set()))
        device = devices[0] if len(devices) == 1 else "mixed: " + ", ".join(devices)
    return Block(signed_log(values), seconds, device, macs)


def _create(name: str, gt: GroundTruth, execution: Execution):
    """The registered estimator `name`; a live one runs on `execution`."""
    live = estimators.entry(name).live
    return estimators.create(name, gt, execution=execution) if live else estimators.create(name, gt)


def estimator_block(
    gt: GroundTruth, name: str, dataset: str, archs: np.ndarray, seed: int, execution: Execution
) -> Block:
    """One registered estimator's scores of `archs` as a feature column, with its costs."""
    outcome = _create(name, gt, execution).estimate(archs, dataset, seed)
    return Block(np.asarray(outcome.scores, dtype=np.float64)[:, None], np.asarray(outcome.costs, dtype=np.float64),
                 outcome.device, outcome.macs)  # fmt: skip


def features(
    gt: GroundTruth, names: tuple[str, ...], dataset: str, archs: np.ndarray, seed: int, execution: Execution
) -> list[Block]:
    """One block per feature set, rows = `archs`."""
    archs = np.asarray(archs, dtype=np.int64)
    strings = [gt.arch_strings[int(a)] for a in archs]
    free = np.zeros(len(archs))
    blocks = []
    for name in names:
        if name == "onehot":
            blocks.append(Block(onehot(strings), free, NO_DEVICE, free))
        elif name == "path":
            blocks.append(Block(path_encoding(strings), free, NO_DEVICE, free))
        elif name == "size":
            sizes = [estimators.create(n, gt).estimate(archs, dataset, seed).scores for n in ("params", "flops")]
            blocks.append(Block(np.log(np.stack(sizes, axis=1)), free, NO_DEVICE, free))
        elif name == "zc":
            blocks.append(zerocost_block(gt, dataset, archs, execution))
        elif name == "naslib":
            blocks.append(naslib_block(gt, dataset, archs))
        else:
            blocks.append(estimator_block(gt, name[len(ESTIMATOR_FEATURE) :], dataset, archs, seed, execution))
    return blocks


def regressor(name: str, trees: int, seed: int):
    """An unfitted scikit-learn-style regressor."""
    if name == "rf":
        return ensemble.RandomForestRegressor(trees, max_features=0.5, random_state=seed, n_jobs=1)
    if name == "gbr":
        return ensemble.GradientBoostingRegressor(n_estimators=trees, learning_rate=0.05, max_depth=3, subsample=0.8,
                                         random_state=seed)  # fmt: skip
    import lightgbm

    # small k: leaves may hold 2 archs, bins come from the few rows there are
    return lightgbm.LGBMRegressor(n_estimators=trees, learning_rate=0.05, num_leaves=15, min_child_samples=2,
                                  min_data_in_bin=1, subsample=0.8, subsample_freq=1, colsample_bytree=0.8,
                                  random_state=seed, n_jobs=1, verbose=-1)  # fmt: skip


def fit_predict(
    name: str, trees: int, seed: int, train: np.ndarray, labels: np.ndarray, test: np.ndarray
) -> np.ndarray:
    """Predictions of `test` rows by the regressor `name` fitted on (`train`, `labels`); non-finite features imputed
    from the train and test rows together (features carry no labels)."""
    both = impute(np.concatenate([train, test]))
    model = regressor(name, trees, seed)
    model.fit(both[: len(train)], labels)
    return np.asarray(model.predict(both[len(train) :]), dtype=np.float64)


def _known_archs(gt: GroundTruth, names: tuple[str, ...], dataset: str, execution: Execution) -> np.ndarray:
    """Archs every feature set can describe without new computation (a fitted arch is drawn among them)."""
    known = np.ones(len(gt.arch_strings), dtype=bool)
    if "zc" in names:
        if execution.store is None:
            raise ValueError("feature set 'zc' reads the zero-cost table from the execution's store: give store=...")
        known &= stored_zerocost(gt, execution.store, dataset).stored
    if "naslib" in names:
        known &= np.isin(np.arange(len(gt.arch_strings)), naslib_archs(gt, dataset))
    return np.flatnonzero(known)


@dataclass(frozen=True)
class Predictor:
    """A regressor fitted on `k` archs (disjoint from the scored ones) labelled by `settings.label`."""

    gt: GroundTruth
    settings: PredictorConfig = PredictorConfig()
    execution: Execution = field(default_factory=Execution)
    name: str = "predictor"

    @property
    def config(self) -> dict:
        s = self.settings
        config: dict = {"regressor": s.regressor, "features": s.features, "k": s.k, "label": s.label, "trees": s.trees}
        label = estimators.create(s.label, self.gt) if not estimators.entry(s.label).live else None
        if label is not None:
            config["label_config"] = label.config
        return config

    def fitted_archs(self, archs: np.ndarray, dataset: str, seed: int) -> np.ndarray:
        """The `k` archs the regressor is fitted on: drawn (seeded) among the known archs not in `archs`."""
        names = self.settings.feature_sets
        pool = np.setdiff1d(_known_archs(self.gt, names, dataset, self.execution), np.asarray(archs, dtype=np.int64))
        if len(pool) < self.settings.k:
            raise ValueError(
                f"predictor needs k = {self.settings.k} labelled archs outside the {len(archs)} asked for, but only "
                f"{len(pool)} archs are left that the feature sets {', '.join(names)} describe; ask for fewer archs "
                "or lower k"
            )
        rng = np.random.default_rng([seed, _SEED_STREAM])
        return np.sort(rng.choice(pool, size=self.settings.k, replace=False))

    def estimate(self, archs: np.ndarray, dataset: str, seed: int = 0) -> Estimation:
        archs = np.asarray(archs, dtype=np.int64)
        s = self.settings
        fitted = self.fitted_archs(archs, dataset, seed)
        labels = _create(s.label, self.gt, self.execution).estimate(fitted, dataset, seed)
        both = np.concatenate([fitted, archs])
        blocks = features(self.gt, s.feature_sets, dataset, both, seed, self.execution)
        matrix = np.concatenate([b.values for b in blocks], axis=1)
        train_rows = np.isfinite(labels.scores) & ~np.isnan(matrix[: len(fitted)]).all(axis=1)
        test_rows = ~np.isnan(matrix[len(fitted) :]).all(axis=1)
        scores = np.full(len(archs), np.nan)
        if train_rows.sum() >= 2 and test_rows.any():
            scores[test_rows] = fit_predict(
                s.regressor, s.trees, int(np.random.default_rng([seed, _SEED_STREAM]).integers(2**31)),
                matrix[: len(fitted)][train_rows], np.asarray(labels.scores)[train_rows],
                matrix[len(fitted) :][test_rows],
            )  # fmt: skip
        return self._priced(archs, fitted, scores, labels, blocks)

    def _priced(
        self, archs: np.ndarray, fitted: np.ndarray, scores: np.ndarray, labels: Estimation, blocks: list[Block]
    ) -> Estimation:
        """The estimation with the whole bill (labels, features of fitted and scored archs) spread over `archs`."""
        device = labels.device
        seconds = float(np.nansum(labels.costs))
        elsewhere: dict[str, float] = {}
        feature_macs = 0.0
        for block in blocks:
            total = float(np.nansum(block.seconds))
            feature_macs += float(np.nansum(block.macs))
            if block.device == device:
                seconds += total
            elif total > 0:
                elsewhere[block.device] = elsewhere.get(block.device, 0.0) + total
        n = len(archs)
        label_train, label_eval = float(np.nansum(labels.train_macs)), float(np.nansum(labels.eval_macs))
        metadata = {
            "fitted_archs": fitted.tolist(),
            "label": self.settings.label,
            "labelled": int(np.isfinite(labels.scores).sum()),
            "label_cost": {
                "seconds": float(np.nansum(labels.costs)),
                "device": device,
                "train_macs": label_train,
                "eval_macs": label_eval,
            },
            "feature_macs": feature_macs,
            "seconds_elsewhere": elsewhere,
        }
        share = np.full(n, 1.0 / n)
        return Estimation(archs, scores, seconds * share, device, label_train * share,
                          (label_eval + feature_macs) * share, metadata)  # fmt: skip


@register("predictor", family="predictor", live=True, options=PredictorConfig)
def predictor(
    gt: GroundTruth, config: PredictorConfig | None = None, execution: Execution | None = None, **fields: object
) -> Predictor:
    """Learned predictor: a regressor fitted on k labelled archs (labels paid) predicts the rest from cheap features."""
    return Predictor(gt, configured(PredictorConfig, config, fields), execution or Execution())


@dataclass(frozen=True)
class VoteConfig:
    """The estimators of a rank-vote."""

    members: str = field(default="synflow,jacob_cov,snip", metadata={"help": "comma-separated estimators that vote"})

    def __post_init__(self) -> None:
        names = self.names
        if len(names) < 2 or len(set(names)) != len(names):
            raise ValueError(f"VoteConfig.members = {self.members!r} is invalid: give at least 2 distinct estimators")
        for name in names:
            estimators.entry(name)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(n.strip() for n in self.members.split(",") if n.strip())


@dataclass(frozen=True)
class Vote:
    """Mean rank of each arch among the asked ones over the members' scores (NaN: ranked last by that member)."""

    gt: GroundTruth
    settings: VoteConfig = VoteConfig()
    execution: Execution = field(default_factory=Execution)
    name: str = "vote"

    def members(self) -> list:
        return [_create(name, self.gt, self.execution) for name in self.settings.names]

    @property
    def config(self) -> dict:
        return {"members": {m.name: m.config for m in self.members()}}

    def estimate(self, archs: np.ndarray, dataset: str, seed: int = 0) -> Estimation:
        archs = np.asarray(archs, dtype=np.int64)
        outcomes = [m.estimate(archs, dataset, seed) for m in self.members()]
        return vote(archs, outcomes)


def vote(archs: np.ndarray, outcomes: list[Estimation]) -> Estimation:
    """The rank-vote of `outcomes` (one per member, rows = `archs`), its cost the members' summed cost."""
    ranks = []
    for outcome in outcomes:
        values = np.where(np.isfinite(outcome.scores), outcome.scores, -np.inf)
        ranks.append(stats.rankdata(values))
    scores = np.mean(ranks, axis=0)
    devices = sorted({o.device for o in outcomes} - {NO_DEVICE})
    paid = [o for o in outcomes if o.device != NO_DEVICE]
    device = devices[0] if len(devices) == 1 else (NO_DEVICE if not devices else "mixed: " + ", ".join(devices))
    if len(devices) > 1:
        raise ValueError(f"a vote sums seconds of one device only; its members ran on {', '.join(devices)}")
    costs = np.sum([np.nan_to_num(o.costs) for o in paid], axis=0) if paid else np.zeros(len(archs))
    train = np.sum([np.nan_to_num(o.train_macs) for o in outcomes], axis=0)
    evals = np.sum([np.nan_to_num(o.eval_macs) for o in outcomes], axis=0)
    metadata = {"members": [o.metadata for o in outcomes]}
    return Estimation(archs, scores, costs, device, train, evals, metadata)


@register("vote", family="ensemble", live=True, options=VoteConfig)
def vote_estimator(
    gt: GroundTruth, config: VoteConfig | None = None, execution: Execution | None = None, **fields: object
) -> Vote:
    """Rank-vote of several estimators (synflow + jacob_cov + snip by default, Abdelfattah et al. 2021)."""
    return Vote(gt, configured(VoteConfig, config, fields), execution or Execution())
