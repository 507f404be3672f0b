"""Learned-predictor curves: Kendall tau, Spearman and top-10% tau against the number of labelled archs `k`.

For each feature set and regressor, `estimators.predictor.Predictor` is fitted on `k` archs labelled by one seed of
200-epoch training (`tabular-hp200-seed`; its NB201 GPU seconds are the label cost) and scores a fixed test set; each
seed draws a new set of fitted archs (disjoint from the test set) and a new label seed. Truth: the seed-mean
200-epoch accuracy of the dataset's selection split. Every figure is a mean over seeds with a 95% t-interval.

Test sets: when the stored zero-cost table (`zc`) holds `test_size` + max(k) archs, every feature set shares one fixed
test set of `test_size` archs drawn (seed 0) among them and fits on archs outside it. Otherwise the fixed test set is
drawn among all archs, and feature sets that read the table are tested on the rest of the table (its archs minus the
fitted ones, a smaller test set named in each row). Feature sets of NASLib's ~725-arch file (`naslib`) are always
tested on the rest of that file. Alongside: the zero-cost vote (synflow + jacob_cov + snip, Abdelfattah et al.) and
each proxy alone on every arch of the stored table, with no training (k = 0; bootstrap 95% interval over archs).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import stats

from estimators import predictor as predictors
from harness import metrics, records
from harness.datasets import default_split
from harness.estimation import Execution
from harness.groundtruth import GroundTruth
from harness.store import Store
from harness.stored import estimator_key, stored_estimation

K_VALUES: tuple[int, ...] = (10, 25, 50, 100, 200, 400)
FEATURE_SETS: dict[str, str] = {
    "onehot": "onehot",
    "path": "path",
    "encoding+size": "onehot,path,size",
    "zc": "zc",
    "zc+encoding": "zc,onehot,path,size",
    "hp12": "est:tabular-hp12",
    "zc+encoding+hp12": "zc,onehot,path,size,est:tabular-hp12",
    "naslib": "naslib",
    "naslib+encoding": "naslib,onehot,path,size",
}
"""Named feature sets (`PredictorConfig.features`): `hp12` is the score of NB201's 12-epoch training (a recorded
BPE), its NB201 GPU seconds paid for every fitted and scored arch."""
DEFAULT_TABLE = Path(__file__).resolve().parents[2] / "results" / "zerocost-cifar10-valid.h5"
VOTE_MEMBERS: tuple[str, ...] = ("synflow", "jacob_cov", "snip")
TEST_SIZE = 1000
TOP_PERCENT = 10.0


@dataclass(frozen=True)
class CurveSpec:
    """What to run: dataset, k values, seeds, feature sets, regressors, the zero-cost table and the test set size."""

    dataset: str = "cifar10-valid"
    ks: tuple[int, ...] = K_VALUES
    seeds: int = 10
    feature_sets: tuple[str, ...] = tuple(FEATURE_SETS)
    regressors: tuple[str, ...] = predictors.REGRESSORS
    table: str = str(DEFAULT_TABLE)
    test_size: int = TEST_SIZE
    trees: int = 200
    label: str = "tabular-hp200-seed"
    skipped: list = field(default_factory=list, compare=False)

    def __post_init__(self) -> None:
        if not self.ks or any(isinstance(k, bool) or not isinstance(k, int) or k < 2 for k in self.ks):
            raise ValueError(f"k values must be ints >= 2, got {list(self.ks)}")
        if isinstance(self.seeds, bool) or not isinstance(self.seeds, int) or self.seeds < 2:
            raise ValueError(f"seeds must be an int >= 2 (a CI needs two), got {self.seeds!r}")
        if unknown := [f for f in self.feature_sets if f not in FEATURE_SETS]:
            raise ValueError(f"unknown feature set(s) {unknown}; allowed: {', '.join(FEATURE_SETS)}")
        if unknown := [r for r in self.regressors if r not in predictors.REGRESSORS]:
            raise ValueError(f"unknown regressor(s) {unknown}; allowed: {', '.join(predictors.REGRESSORS)}")
        if isinstance(self.test_size, bool) or not isinstance(self.test_size, int) or self.test_size < 10:
            raise ValueError(f"test_size must be an int >= 10, got {self.test_size!r}")


def mean_ci(values: Sequence[float]) -> dict:
    """Mean, 95% t-interval and n of the finite values."""
    finite = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=np.float64)
    if finite.size == 0:
        return {"mean": math.nan, "low": math.nan, "high": math.nan, "n": 0}
    if finite.size == 1:
        return {"mean": float(finite[0]), "low": math.nan, "high": math.nan, "n": 1}
    half = stats.t.ppf(0.975, finite.size - 1) * finite.std(ddof=1) / math.sqrt(finite.size)
    mean = float(finite.mean())
    return {"mean": mean, "low": mean - half, "high": mean + half, "n": int(finite.size)}


def scores_of(scores: np.ndarray, truth: np.ndarray) -> dict:
    """Kendall tau, Spearman and tau among the true top 10% of one estimation (finite scores only)."""
    keep = np.isfinite(scores) & np.isfinite(truth)
    s, t = scores[keep], truth[keep]
    return {
        "kendall_tau": metrics.kendall_tau(s, t),
        "spearman": metrics.spearman(s, t),
        "top10_tau": metrics.tau_in_true_top(s, t, TOP_PERCENT),
        "n": int(keep.sum()),
    }


def _needs_hp12(features: str) -> bool:
    return "est:tabular-hp12" in features


def fixed_test_set(gt: GroundTruth, spec: CurveSpec, table: np.ndarray | None) -> np.ndarray:
    """`test_size` archs drawn (seed 0) among the stored table's archs `table`, or among all archs (None)."""
    candidates = np.arange(len(gt.arch_strings)) if table is None else table
    return np.sort(np.random.default_rng(0).choice(candidates, size=spec.test_size, replace=False))


def run_curves(gt: GroundTruth, spec: CurveSpec, progress=None) -> dict:
    """Every (feature set, regressor, k) row over `spec.seeds` seeds, plus the zero-cost vote rows.

    One fixed test set for every feature set when the zero-cost table holds `test_size` + max(k) archs (drawn among
    them); otherwise the fixed test set is drawn among all archs and feature sets that read the table are tested on
    the rest of the table (its archs minus the fitted ones), like those of NASLib's file.
    """
    truth = gt.metric(spec.dataset, default_split(spec.dataset), "acc")
    execution = Execution(store=spec.table, workers=1, threads=1, progress=False)
    table = np.flatnonzero(predictors.stored_zerocost(gt, spec.table, spec.dataset).stored)
    has_hp12 = gt.has(spec.dataset, default_split(spec.dataset), "acc", hp=12)
    shared = len(table) >= spec.test_size + max(spec.ks)
    test = fixed_test_set(gt, spec, table if shared else None)
    rows, skipped = [], []
    for set_name in spec.feature_sets:
        features = FEATURE_SETS[set_name]
        parts = features.split(",")
        if "zc" in parts and not len(table):
            skipped.append({"features": set_name, "why": f"no zero-cost table of {spec.dataset} at {spec.table}"})
            continue
        if _needs_hp12(features) and not has_hp12:
            skipped.append({"features": set_name, "why": "the ground truth lacks the 12-epoch table (data add-csv)"})
            continue
        if "naslib" in parts and not predictors.naslib_path().exists():
            skipped.append({"features": set_name, "why": f"NASLib's file is absent ({predictors.naslib_path()})"})
            continue
        rest: tuple[str, np.ndarray] | None = None
        if "naslib" in parts:
            rest = ("rest of NASLib's file", predictors.naslib_archs(gt, spec.dataset))
        elif "zc" in parts and not shared:
            rest = ("rest of the zero-cost table", table)
        for regressor in spec.regressors:
            for k in spec.ks:
                config = predictors.PredictorConfig(regressor, features, k, spec.label, spec.trees)
                model = predictors.Predictor(gt, config, execution)
                row = _curve_row(model, spec, test, truth, rest)
                if row is None:
                    skipped.append({"features": set_name, "regressor": regressor, "k": k,
                                    "why": "fewer than 10 test archs or k fitted archs left"})  # fmt: skip
                    continue
                rows.append({"features": set_name, "feature_spec": features, "regressor": regressor, **row})
                if progress is not None:
                    progress(rows[-1])
    return {
        "dataset": spec.dataset,
        "target": f"{spec.dataset}:{default_split(spec.dataset)}:acc:200:mean",
        "label": spec.label,
        "seeds": spec.seeds,
        "ks": list(spec.ks),
        "test_archs": len(test),
        "test_from": "the zero-cost table" if shared else "all archs",
        "table": spec.table,
        "table_archs": len(table),
        "rows": rows,
        "vote": vote_rows(gt, spec, table, truth) if len(table) else [],
        "skipped": skipped,
    }


def _curve_row(
    model: predictors.Predictor,
    spec: CurveSpec,
    test: np.ndarray,
    truth: np.ndarray,
    rest: tuple[str, np.ndarray] | None,
) -> dict | None:
    """One (feature set, regressor, k) over the seeds, on `test` or (`rest`) on the rest of an arch set after the
    fitted archs; None where k leaves fewer than 10 test archs or too few to fit on."""
    k = model.settings.k
    per_seed, label_seconds, seconds, elsewhere, macs, test_sizes = [], [], [], [], [], []
    for seed in range(spec.seeds):
        if rest is not None:  # the pool outside the asked archs is then exactly the k chosen ones
            archs = rest[1]
            if len(archs) - k < 10:
                return None
            chosen = np.random.default_rng([seed, 7]).choice(archs, size=k, replace=False)
            asked = np.setdiff1d(archs, chosen)
        else:
            asked = test
        try:
            estimation = model.estimate(asked, spec.dataset, seed)
        except ValueError as err:
            if "labelled archs outside" in str(err):
                return None
            raise
        per_seed.append(scores_of(estimation.scores, truth[asked]))
        label_seconds.append(estimation.metadata["label_cost"]["seconds"])
        seconds.append(float(np.sum(estimation.costs)))
        elsewhere.append(estimation.metadata["seconds_elsewhere"])
        macs.append(float(np.sum(estimation.macs)))
        test_sizes.append(len(asked))
    devices = sorted({d for e in elsewhere for d in e})
    return {
        "k": k,
        "kendall_tau": mean_ci([s["kendall_tau"] for s in per_seed]),
        "spearman": mean_ci([s["spearman"] for s in per_seed]),
        "top10_tau": mean_ci([s["top10_tau"] for s in per_seed]),
        "test": "fixed" if rest is None else rest[0],
        "test_archs": int(np.mean(test_sizes)),
        "cost_device": estimation.device,
        "label_seconds": float(np.mean(label_seconds)),
        "total_seconds": float(np.mean(seconds)),
        "seconds_elsewhere": {d: float(np.mean([e.get(d, 0.0) for e in elsewhere])) for d in devices},
        "total_macs": float(np.mean(macs)),
        "per_seed_tau": [s["kendall_tau"] for s in per_seed],
    }


def vote_rows(gt: GroundTruth, spec: CurveSpec, test: np.ndarray, truth: np.ndarray) -> list[dict]:
    """The zero-cost vote and each member alone on `test` (every archs of the stored table), read from it."""
    store = Store(spec.table, readonly=True)
    members = predictors.zerocost_estimators(gt, Execution())
    outcomes = {
        name: stored_estimation(store, estimator_key(members[name]), spec.dataset, test, predictors.ZC_SEED)
        for name in predictors.ZC_PROXIES
    }
    candidates = {name: outcomes[name] for name in predictors.ZC_PROXIES}
    candidates["vote(" + "+".join(VOTE_MEMBERS) + ")"] = predictors.vote(test, [outcomes[m] for m in VOTE_MEMBERS])
    rows = []
    for name, estimation in candidates.items():
        report = metrics.rank_report(estimation.scores, truth[test], n_boot=200)
        rows.append(
            {
                "estimator": name,
                "k": 0,
                "test_archs": len(test),
                "failed": report.n_failed,
                "kendall_tau": dataclasses.asdict(report.kendall_tau),
                "spearman": dataclasses.asdict(report.spearman),
                "top10_tau": dataclasses.asdict(report.tau_top_10),
                "cost_device": estimation.device,
                "total_seconds": float(np.nansum(estimation.costs)),
                "total_macs": float(np.nansum(estimation.macs)),
            }
        )
    return rows


def format_rows(result: dict) -> list[str]:
    """The curves as a markdown table: mean tau, Spearman and top-10% tau with 95% CIs, and the label cost."""

    def ci(value: dict) -> str:
        return records.fmt_ci(value["mean"], value["low"], value["high"])

    header = ["features", "regressor", "k", "test archs", "Kendall tau", "Spearman", "top-10% tau", "label cost",
              "total cost", "elsewhere"]  # fmt: skip
    rows = [
        [
            r["features"], r["regressor"], str(r["k"]), f"{r['test_archs']} ({r['test']})", ci(r["kendall_tau"]),
            ci(r["spearman"]), ci(r["top10_tau"]), f"{records.fmt_seconds(r['label_seconds'])} on {r['cost_device']}",
            f"{records.fmt_seconds(r['total_seconds'])}, {r['total_macs']:.2e} MACs",
            ", ".join(f"{records.fmt_seconds(s)} on {d}" for d, s in r["seconds_elsewhere"].items()) or "-",
        ]
        for r in result["rows"]
    ]  # fmt: skip
    lines = [f"n = {result['seeds']} seeds per row; truth {result['target']}; labels {result['label']}", ""]
    lines += records.markdown_table(header, rows)
    if result["vote"]:
        archs = result["table_archs"]
        lines += ["", f"No training (k = 0), every arch of the zero-cost table ({archs}), bootstrap 95% CI:", ""]
        vote_rows = [
            [v["estimator"], str(v["test_archs"]), str(v["failed"]), records.fmt_estimate(v["kendall_tau"]),
             records.fmt_estimate(v["spearman"]), records.fmt_estimate(v["top10_tau"]),
             f"{records.fmt_seconds(v['total_seconds'])} on {v['cost_device']}"]
            for v in result["vote"]
        ]  # fmt: skip
        lines += records.markdown_table(
            ["estimator", "test archs", "failed", "Kendall tau", "Spearman", "top-10% tau", "cost"], vote_rows
        )
    for skip in result["skipped"]:
        lines.append(f"- skipped {skip}")
    return lines
