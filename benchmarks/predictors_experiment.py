"""Learned predictors on NB201 cifar10-valid: k-curves per feature set and regressor, and predictor-guided search.

Two parts, each rerunnable alone (the other part's results and provenance are kept):

- curves: `harness.app.predictors.run_curves` (what `bpebench predictors` prints): Kendall tau, Spearman and top-10%
  tau against k in {10, 25, 50, 100, 200, 400}, labels from one seed of 200-epoch training, their NB201 GPU seconds
  counted, on a fixed test set drawn from the stored zero-cost table (results/zerocost-cifar10-valid.h5);
- search: REA and the surrogate searcher (one-hot greedy, as before; one-hot + path encoding with UCB acquisition;
  and with the stored zero-cost scores as features, limited to the archs the table holds) at 100 queries of the
  12-epoch table (`tabular-hp12`), NB201 protocol, over `--search-seeds` seeds; mean 200-epoch validation accuracy of
  the chosen arch with a 95% t-interval. The search runs go through the resumable search store.

Usage: python -m benchmarks.predictors_experiment [--parts curves,search] [--seeds 10] [--search-seeds 100]
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np

from estimators import predictor as predictors
from harness import records
from harness.app.predictors import DEFAULT_TABLE, CurveSpec, format_rows, mean_ci, run_curves
from harness.app.search_runs import SearchSpec, run
from harness.datasets import default_split
from harness.groundtruth import GroundTruth

DATASET = "cifar10-valid"
PARTS = ("curves", "search")
QUERIES = 100
SEARCHES: tuple[tuple[str, str, dict], ...] = (
    ("REA", "rea", {}),
    ("surrogate: one-hot, greedy", "surrogate", {}),
    ("surrogate: one-hot + path, UCB", "surrogate", {"features": "onehot+path", "acquisition": "ucb"}),
    ("surrogate: one-hot + path + zero-cost table, UCB (table archs only)", "surrogate",
     {"features": "onehot+path+zc", "acquisition": "ucb", "zerocost_store": str(DEFAULT_TABLE)}),
)  # fmt: skip
COMMAND = "python -m benchmarks.predictors_experiment --parts curves,search --seeds 10 --search-seeds 100"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default="curves,search", help="comma-separated parts to run")
    parser.add_argument("--seeds", type=int, default=10, help="seeds per curve row (default: 10)")
    parser.add_argument("--search-seeds", type=int, default=100, help="seeds per search (default: 100)")
    parser.add_argument("--features", help="comma-separated feature sets of the curves (default: all)")
    parser.add_argument("--regressors", help="comma-separated regressors (default: all)")
    parser.add_argument("--searches", help="comma-separated positions (0-based) of the searches to run (default: all)")
    parser.add_argument("--workers", type=int, default=1, help="search seeds run in this many processes")
    parser.add_argument("--groundtruth", help="ground-truth HDF5 with the 12-epoch table merged (default: the cache)")
    parser.add_argument("--out", type=Path, default=Path("results"))
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    if unknown := parts - set(PARTS):
        parser.error(f"unknown part(s) {sorted(unknown)}; allowed: {', '.join(PARTS)}")
    out_json = args.out / "predictors.json"
    result = json.loads(out_json.read_text()) if out_json.exists() else {}
    made = result.setdefault("made", {})
    gt = GroundTruth.open(args.groundtruth, build=False)
    if "curves" in parts:
        spec = CurveSpec(DATASET, seeds=args.seeds)
        if args.features:
            spec = CurveSpec(DATASET, seeds=args.seeds, feature_sets=tuple(args.features.split(",")))
        if args.regressors:
            spec = CurveSpec(DATASET, spec.ks, spec.seeds, spec.feature_sets, tuple(args.regressors.split(",")))
        fresh = run_curves(gt, spec, _progress)
        if args.features and "curves" in result:  # a run of some feature sets keeps the other sets' rows
            kept = [r for r in result["curves"]["rows"] if r["features"] not in spec.feature_sets]
            fresh["rows"] = kept + fresh["rows"]
            fresh["skipped"] = [s for s in result["curves"]["skipped"] if s["features"] not in spec.feature_sets] + [
                s for s in fresh["skipped"]
            ]
            if fresh["test_from"] != result["curves"]["test_from"]:
                raise SystemExit("the fixed test set changed with the table: rerun every feature set")
        result["curves"] = fresh
        made["curves"] = records.collect()
    if "search" in parts:
        chosen = [int(i) for i in args.searches.split(",")] if args.searches else range(len(SEARCHES))
        fresh = searches(gt, args.search_seeds, args.workers, [SEARCHES[i] for i in chosen])
        by_label = {r["search"]: r for r in result.get("search", [])} | {r["search"]: r for r in fresh}
        result["search"] = [by_label[label] for label, _, _ in SEARCHES if label in by_label]
        made["search"] = records.collect()
    result["command"] = COMMAND
    records.write_atomic(out_json, json.dumps(records.strict_json(result), indent=1, sort_keys=True))
    records.write_atomic(args.out / "predictors.md", "\n".join(markdown(result)) + "\n")
    print(f"wrote {out_json} and {args.out / 'predictors.md'}")


def _progress(row: dict) -> None:
    print(f"{row['features']} {row['regressor']} k={row['k']}: tau {row['kendall_tau']['mean']:.3f}", flush=True)


def searches(gt: GroundTruth, seeds: int, workers: int, settings) -> list[dict]:
    """Each search setting over `seeds` seeds: chosen arch's ground truth, mean with a 95% t-interval."""
    rows = []
    for label, searcher, options in settings:
        spec = SearchSpec(searcher, "tabular-hp12", DATASET, math.inf, options=options, max_queries=QUERIES)
        report = run(spec, gt, list(range(seeds)), workers=workers, progress=False).to_dict()
        row = {
            "search": label,
            "searcher": searcher,
            "options": options,
            "queries": report["mean_queries"],
            "valid": mean_ci(report["finals"]),
            "std": report["std"],
            "test": mean_ci(report.get("test_finals", [])),
            "cost_device": report["cost_device"],
            "mean_cost": report["mean_cost"],
            "mean_macs": report["mean_macs"],
            "target": report["target"],
        }
        if "zerocost_store" in options:
            table = predictors.stored_zerocost(gt, options["zerocost_store"], DATASET).stored
            truth = gt.metric(DATASET, default_split(DATASET), "acc")
            row["space_archs"] = int(table.sum())
            row["space_best"] = float(np.nanmax(truth[table]))
        rows.append(row)
        print(f"{label}: {row['valid']['mean']:.2f} (n = {row['valid']['n']})", flush=True)
    return rows


def headline(curves: dict) -> list[str]:
    """The k = 100 row of each feature set (its best regressor by mean tau)."""
    best: dict[str, dict] = {}
    for row in curves["rows"]:
        if row["k"] == 100 and (
            row["features"] not in best or row["kendall_tau"]["mean"] > best[row["features"]]["kendall_tau"]["mean"]
        ):
            best[row["features"]] = row
    rows = [
        [name, r["regressor"], str(r["test_archs"]), records.fmt_ci(r["kendall_tau"]["mean"], r["kendall_tau"]["low"],
                                                                   r["kendall_tau"]["high"]),
         records.fmt_num(r["spearman"]["mean"]), f"{records.fmt_seconds(r['label_seconds'])} on {r['cost_device']}"]
        for name, r in best.items()
    ]  # fmt: skip
    return ["k = 100, best regressor per feature set:", "",
            *records.markdown_table(["features", "regressor", "test archs", "Kendall tau", "Spearman", "label cost"],
                                    rows), "", "All rows:"]  # fmt: skip


def markdown(result: dict) -> list[str]:
    lines = [
        "# Learned predictors and predictor-guided search (NB201 cifar10-valid)",
        "",
        f"Regenerate: `{result['command']}` (each part alone with `--parts curves` or `--parts search`; the search "
        "store resumes). `bpebench predictors --dataset cifar10-valid --k 100 --seeds 10 --json` prints the curve "
        "rows alone.",
        "",
    ]
    for part, record in sorted(result.get("made", {}).items()):
        lines.append(f"- {part}: {records.describe(record)}")
    if "curves" in result:
        curves = result["curves"]
        lines += [
            "",
            "## k-curves",
            "",
            f"Predictor (`estimators/predictor.py`) fitted on k archs labelled by one seed of 200-epoch training "
            f"(`{curves['label']}`), scored against the seed-mean 200-epoch x-valid accuracy. Fixed test set: "
            f"{curves['test_archs']} archs drawn among {curves['test_from']}; the stored zero-cost table holds "
            f"{curves['table_archs']} archs, so "
            + (
                "every feature set shares it."
                if curves["test_from"] == "the zero-cost table"
                else "feature sets that read it (`zc`) are tested on the rest of the table after the k fitted archs "
                "(test archs named per row)."
            )
            + " NASLib-file rows are tested on the rest of that ~724-arch file. Label cost: NB201 GPU seconds of "
            "the k trainings (200 epochs each); total cost adds any feature paid on that device (`hp12`: the "
            "12-epoch training of every fitted and scored arch); zero-cost seconds on this machine's CPU are shown "
            "apart (another device, never added). 95% t-intervals over seeds.",
            "",
            *headline(curves),
            "",
            *format_rows(curves),
        ]
    if "search" in result:
        lines += [
            "",
            f"## Search at {QUERIES} queries of the 12-epoch table (`tabular-hp12`, NB201 protocol)",
            "",
            "Mean 200-epoch x-valid accuracy of the chosen arch (95% t-interval over seeds); NB201 reports REA at "
            "91.19 +- 0.31 with a 12,000 s budget. The zero-cost row searches only the archs the stored table holds "
            "(its best arch is shown): it is not the full space.",
            "",
        ]
        header = ["search", "seeds", "valid acc [95% CI]", "std", "test acc (ori-test)", "cost per search",
                  "space"]  # fmt: skip
        rows = [
            [
                r["search"], str(r["valid"]["n"]), records.fmt_ci(r["valid"]["mean"], r["valid"]["low"],
                                                                  r["valid"]["high"], 2),
                records.fmt_num(r["std"], 2), records.fmt_num(r["test"]["mean"], 2),
                f"{records.fmt_seconds(r['mean_cost'])} on {r['cost_device']}",
                f"{r['space_archs']} archs, best {r['space_best']:.2f}" if "space_archs" in r else "all 15,625",
            ]
            for r in result["search"]
        ]  # fmt: skip
        lines += records.markdown_table(header, rows)
    return lines


if __name__ == "__main__":
    main()
