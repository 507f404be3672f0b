"""Validate learning-curve extrapolation on the 200 stored cifar10-valid curves: tau against observed epochs k.

For each random split (seeded), fits each regressor on `--n-train` archs' full curves and predicts the final
(200-epoch) x-valid accuracy of the other archs from their first k epochs; reports Kendall tau-b and Spearman of the
predictions against the final accuracy, next to the naive baseline (the accuracy after epoch k), mean and standard
deviation over the splits.

Usage: python -m benchmarks.curve_validation [--splits 5] [--n-train 50] [--out results]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from estimators import curve
from harness import metrics, paths, records
from harness.groundtruth import GroundTruth

KS = (5, 10, 20, 50, 100)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--splits", type=int, default=5, help="random fit/test splits (seeds 0..splits-1)")
    parser.add_argument("--n-train", type=int, default=50, help="fully observed curves to fit on")
    parser.add_argument("--groundtruth", help="ground-truth HDF5 for the arch index (default: the user cache)")
    parser.add_argument("--out", type=Path, default=Path("results"))
    args = parser.parse_args()

    csv_path = paths.shared_data_dir() / curve.CURVES_CSV
    with GroundTruth.open(args.groundtruth) as gt:
        table = curve.stored_curves(gt, curve.CSV_DATASET, max(KS), csv_path)
        features = curve.arch_features([gt.arch_strings[int(a)] for a in table.archs])
    n = len(table.archs)
    runs: dict[str, dict[int, list[dict]]] = {m: {k: [] for k in KS} for m in ("naive", *curve.MODELS)}
    for split in range(args.splits):
        order = np.random.default_rng(split).permutation(n)
        fit, test = order[: args.n_train], order[args.n_train :]
        truth = table.finals[test]
        for k in KS:
            runs["naive"][k].append(_ranks(table.curves[test, k - 1], truth, 0.0))
            for model in curve.MODELS:
                start = time.perf_counter()
                extrapolator = curve.CurveExtrapolator(k, model, seed=split)
                extrapolator.fit(features[fit], table.curves[fit], table.finals[fit])
                predicted = extrapolator.predict(features[test], table.curves[test])
                runs[model][k].append(_ranks(predicted, truth, time.perf_counter() - start))

    summary = {model: {str(k): _summarise(rows) for k, rows in by_k.items()} for model, by_k in runs.items()}
    result = {
        "source": table.source,
        "n_archs": n,
        "n_train": args.n_train,
        "n_test": n - args.n_train,
        "splits": args.splits,
        "ks": list(KS),
        "target": "final (epoch 200) seed-mean cifar10-valid x-valid accuracy",
        "results": summary,
        "provenance": records.collect(),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "curve_validation.json").write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    (args.out / "curve_validation.md").write_text(markdown(result))
    print(markdown(result))


def _ranks(predicted: np.ndarray, truth: np.ndarray, seconds: float) -> dict:
    return {
        "kendall_tau": metrics.kendall_tau(predicted, truth),
        "spearman": metrics.spearman(predicted, truth),
        "fit_predict_seconds": seconds,
    }


def _summarise(rows: list[dict]) -> dict:
    return {
        f"{name}_{stat}": float(fn([r[name] for r in rows]))
        for name in ("kendall_tau", "spearman", "fit_predict_seconds")
        for stat, fn in (("mean", np.mean), ("std", np.std))
    }


def markdown(result: dict) -> str:
    models = ("naive", *curve.MODELS)
    lines = [
        "# Learning-curve extrapolation on NB201 cifar10-valid",
        "",
        f"{result['n_archs']} archs with stored 200-epoch curves ({result['source']}). Each of {result['splits']} "
        f"seeded splits fits on {result['n_train']} full curves and predicts the other {result['n_test']} archs' "
        "final x-valid accuracy from their first k epochs. Naive: the accuracy after epoch k. Regressors on one-hot "
        "ops per edge, params, FLOPs and the first k curve values with their first and second differences "
        "(Baker et al. 2017); svr is nu-SVR (RBF) with C and gamma chosen by 5-fold CV. Kendall tau-b against the "
        "final accuracy, mean ± std over splits.",
        "",
        *_by_k(result, models, "k (epochs seen)", "kendall_tau"),
        "",
        "Spearman:",
        "",
        *_by_k(result, models, "k", "spearman"),
    ]
    seconds = {
        m: np.mean([result["results"][m][str(k)]["fit_predict_seconds_mean"] for k in result["ks"]])
        for m in curve.MODELS
    }
    lines += [
        "",
        "Fit + predict seconds on this machine's CPU (mean over k and splits): "
        + ", ".join(f"{m} {s:.2f}" for m, s in seconds.items())
        + ".",
        "",
        "Provenance: " + records.describe(result["provenance"]),
        "",
    ]
    return "\n".join(lines)


def _by_k(result: dict, models: tuple[str, ...], first: str, name: str) -> list[str]:
    """Table of `name`'s mean ± std, a row per k and a column per model."""
    rows = [[str(k)] + [_mean_std(result["results"][m][str(k)], name) for m in models] for k in result["ks"]]
    return records.markdown_table([first, *models], rows)


def _mean_std(row: dict, name: str) -> str:
    return records.fmt_mean_std(row[f"{name}_mean"], row[f"{name}_std"], 3, "±")


if __name__ == "__main__":
    main()
