"""NB201 searches on one footing: NB201's Table 5, the BPE speed-up claim at equal queries, DARTS' collapse.

Three parts, every search through the resumable search store (a rerun reads what is stored and runs the rest):

- table5: RS, REA, REINFORCE (and the surrogate searcher) with the 12-epoch tabular estimator under NB201's
  12,000 s simulated budget, against NB201's Table 5 (cifar10-valid validation accuracy), and with one seed of full
  training under the same budget;
- headline: each searcher x estimator (one seed of 200-epoch training, the 12-epoch table, the best measured live
  BPE, params as a free baseline) at an equal number of queried archs: ground truth of the chosen arch, search cost,
  and each estimator's speed-up over full training with its accuracy drop (the BPE paper's ~1000x claim);
- darts: DARTS-V1 and V2 at a CPU-sized supernet budget, per-epoch derived arch and its ground truth.

Usage: python benchmarks/search_experiment.py [--data-root ../shared/data] [--workers 2] [--out results]
"""

from __future__ import annotations

import argparse
import collections
import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np

from estimators.bpe import PRESETS
from harness import paths, provenance, space
from harness.cli.common import strict_json
from harness.groundtruth import GroundTruth, merge_into
from harness.groundtruth.sources.csv_table import PRESETS as CSV_PRESETS
from harness.groundtruth.sources.csv_table import CsvTableSource
from harness.train import TrainConfig
from searchers.darts import NB201_SEARCH, DartsConfig
from searchers.run import SearchReport, SearchSpec, run

DATASET = "cifar10-valid"
BLACK_BOX = ("rs", "rea", "reinforce", "surrogate")
LIVE_SEARCHERS = ("rs", "rea", "reinforce")
"""The live BPE trains every queried arch on the CPU, so it runs with NB201's three black-box searchers only."""
NB201_TABLE5 = {"rs": (90.93, 0.36), "rea": (91.19, 0.31), "reinforce": (91.09, 0.37)}
"""Dong & Yang (ICLR 2020), Table 5, cifar10-valid validation accuracy, mean and std over 500 runs."""
NB201_DARTS = {"darts-v1": 39.77, "darts-v2": 39.77}
FULL = "tabular-hp200-seed"
LIVE_PRESET = "cpu-mip-rs"
HP12_CSV = "nb201/nb201-hp12-final-accuracy.csv"
CPU_DARTS = DartsConfig(replace(NB201_SEARCH, channels=8, cells=1, resolution=16, fraction=0.2))
"""NB201's DARTS setting (50 epochs, batch 64, lr 0.025) with the supernet cut to C=8, N=1, 16 px, 20% of the data."""
PARAMETER_FREE = ("none", "skip_connect", "avg_pool_3x3")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default="table5,headline,darts", help="comma-separated parts to run")
    parser.add_argument("--seeds", type=int, default=100, help="seeds of the tabular searches (default: 100)")
    parser.add_argument("--queries", type=int, default=100, help="archs each headline search pays for (default: 100)")
    parser.add_argument("--live-queries", type=int, default=25, help="archs per live-BPE search (default: 25)")
    parser.add_argument("--live-seeds", type=int, default=4, help="seeds of the live-BPE searches (default: 4)")
    parser.add_argument("--darts-seeds", type=int, default=2, help="seeds of each DARTS version (default: 2)")
    parser.add_argument("--darts-budget", type=float, default=7200.0, help="wall seconds per DARTS search (a cap)")
    parser.add_argument("--data-root", help="images for live training (default: $BPEBENCH_DATA_ROOT or shared data)")
    parser.add_argument("--workers", type=int, default=1, help="seeds run in this many processes (default: 1)")
    parser.add_argument("--groundtruth", help="ground-truth HDF5 (default: the user cache; the hp12 table is merged)")
    parser.add_argument("--out", type=Path, default=Path("results"))
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    if unknown := parts - {"table5", "headline", "darts"}:
        parser.error(f"unknown part(s) {sorted(unknown)}; allowed: table5, headline, darts")

    out_json = args.out / "search_experiment.json"
    result = json.loads(out_json.read_text()) if out_json.exists() else {}
    with _groundtruth(args.groundtruth) as gt:
        searching = Searching(gt, args.workers)
        if "table5" in parts:
            result["table5"] = searching.table5(args.seeds)
        if "headline" in parts:
            result["headline"] = searching.headline(
                args.seeds, args.queries, args.live_queries, args.live_seeds, args.data_root
            )
        if "darts" in parts:
            result["darts"] = searching.darts(args.darts_seeds, args.darts_budget, args.data_root)
        result["groundtruth"] = gt.provenance
    result["provenance"] = provenance.collect()
    args.out.mkdir(parents=True, exist_ok=True)
    out_json.write_text(json.dumps(strict_json(result), indent=2, sort_keys=True) + "\n")
    (args.out / "search_experiment.md").write_text(markdown(result))
    print(markdown(result))


def _groundtruth(path: str | None) -> GroundTruth:
    """The ground truth with the 12-epoch table merged from the reference data when it is missing."""
    gt = GroundTruth.open(path)
    if gt.has(DATASET, "x-valid", "acc", hp=12):
        return gt
    csv = paths.shared_data_dir() / HP12_CSV
    if not csv.is_file():
        raise SystemExit(f"the ground truth lacks the 12-epoch table and {csv} is absent: `bpebench data add-csv`")
    target = gt.path
    gt.close()
    merge_into(target, CsvTableSource(csv, key="arch", columns=CSV_PRESETS["nb201-hp12"], hp=12), progress=False)
    return GroundTruth.open(target)


class Searching:
    """Runs (or reads back) searches and turns their reports into rows."""

    def __init__(self, gt: GroundTruth, workers: int) -> None:
        self.gt, self.workers = gt, workers

    def search(self, spec: SearchSpec, seeds: int) -> dict:
        report = run(spec, self.gt, range(seeds), workers=self.workers)
        return _row(report)

    def table5(self, seeds: int) -> list[dict]:
        rows = []
        for searcher in BLACK_BOX:
            for estimator in ("tabular-hp12", FULL):
                row = self.search(SearchSpec(searcher, estimator, DATASET, 12_000.0), seeds)
                if estimator == "tabular-hp12" and searcher in NB201_TABLE5:
                    mean, std = NB201_TABLE5[searcher]
                    row |= {"nb201_mean": mean, "nb201_std": std, "within_one_std": abs(row["mean"] - mean) < std}
                rows.append(row)
        return rows

    def headline(self, seeds: int, queries: int, live_queries: int, live_seeds: int, data_root: str | None) -> dict:
        tables = {}
        live = {"config": PRESETS[LIVE_PRESET]} | ({"data_root": data_root} if data_root else {})
        for limit in sorted({queries, live_queries}):
            rows = []
            for searcher in BLACK_BOX:
                for estimator in (FULL, "tabular-hp12", "params"):
                    rows.append(
                        self.search(SearchSpec(searcher, estimator, DATASET, math.inf, max_queries=limit), seeds)
                    )
                if limit == live_queries and searcher in LIVE_SEARCHERS:
                    spec = SearchSpec(searcher, "bpe", DATASET, math.inf, max_queries=limit, estimator_options=live)
                    rows.append(self.search(spec, live_seeds) | {"bpe": LIVE_PRESET})
            tables[str(limit)] = _against_full_training(rows)
        return {"live_bpe": LIVE_PRESET, "live_bpe_setting": PRESETS[LIVE_PRESET].describe(), "by_queries": tables}

    def darts(self, seeds: int, budget: float, data_root: str | None) -> list[dict]:
        rows = []
        truth = self.gt.metric(DATASET, "x-valid", "acc")
        for name in ("darts-v1", "darts-v2"):
            config = replace(CPU_DARTS, data_root=data_root)
            report = run(
                SearchSpec(name, None, DATASET, budget, {"config": config}), self.gt, range(seeds), self.workers
            )
            row = _row(report) | {"setting": _darts_setting(config.train), "nb201_mean": NB201_DARTS[name]}
            row["per_seed"] = [_darts_seed(record, truth, self.gt.arch_strings) for record in report.records]
            rows.append(row)
        return rows


def _row(report: SearchReport) -> dict:
    summary = report.to_dict()
    keep = ("searcher", "estimator", "budget", "max_queries", "target", "mean", "std", "n", "mean_cost", "mean_queries")
    row = {k: summary[k] for k in keep}
    row["budget"] = None if math.isinf(row["budget"]) else row["budget"]
    row["seeds"] = len(summary["seeds"])
    row["most_chosen"] = collections.Counter(summary["arch_strings"]).most_common(1)[0]
    return row


def _against_full_training(rows: list[dict]) -> list[dict]:
    """Add each row's speed-up (search cost of full training / its own) and accuracy drop, per searcher."""
    full = {row["searcher"]: row for row in rows if row["estimator"] == FULL}
    for row in rows:
        reference = full[row["searcher"]]
        row["speedup"] = reference["mean_cost"] / row["mean_cost"] if row["mean_cost"] > 0 else None
        row["drop"] = reference["mean"] - row["mean"]
    return rows


def _darts_setting(train: TrainConfig) -> str:
    return (
        f"C={train.channels} N={train.cells} {train.resolution}px, {train.fraction:g} of the data, "
        f"{train.epochs} epochs, batch {train.batch_size}, lr {train.lr:g}"
    )


def _darts_seed(record: dict, truth: np.ndarray, arch_strings: list[str]) -> dict:
    """The derived arch, its ground truth and parameter-free edges, at the end and after every epoch."""
    per_epoch = record["trajectory"]["arch"]
    ops = space.parse(record["arch_str"])
    return {
        "seed": record["seed"],
        "arch_str": record["arch_str"],
        "x_valid": float(truth[record["arch"]]),
        "parameter_free_edges": _parameter_free(record["arch_str"]),
        "skip_edges": ops.count("skip_connect"),
        "epochs_done": record["metadata"]["epochs_done"],
        "wall_seconds": record["cost"],
        "per_epoch_x_valid": [float(truth[a]) for a in per_epoch],
        "per_epoch_parameter_free": [_parameter_free(arch_strings[a]) for a in per_epoch],
    }


def _parameter_free(arch_str: str) -> int:
    return sum(op in PARAMETER_FREE for op in space.parse(arch_str))


def markdown(result: dict) -> str:
    lines = [
        "# NB201 searches on one footing",
        "",
        "Regenerate (resumes from the search store): `python benchmarks/search_experiment.py --data-root "
        "../shared/data --workers 2`. Ground truth of the arch each seed chose: seed-mean 200-epoch accuracy on "
        f"{DATASET} x-valid, mean ± std (ddof 0) over seeds. Tabular costs are NB201's recorded GPU training seconds "
        "(simulated budget); live costs are seconds measured on this machine.",
    ]
    if "table5" in result:
        lines += _table5(result["table5"])
    if "headline" in result:
        lines += _headline(result["headline"])
    if "darts" in result:
        lines += _darts(result["darts"])
    lines += ["", "## Provenance", "", provenance.describe(result["provenance"]), ""]
    return "\n".join(lines)


def _table5(rows: list[dict]) -> list[str]:
    lines = [
        "",
        "## NB201's Table 5 (12,000 s simulated budget)",
        "",
        "| searcher | estimator | seeds | x-valid | NB201 (valid) | within one NB201 std | archs paid per seed |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        nb201 = f"{row['nb201_mean']:.2f} ± {row['nb201_std']:.2f}" if "nb201_mean" in row else "-"
        within = {True: "yes", False: "no"}.get(row.get("within_one_std"), "-")
        lines.append(
            f"| {row['searcher']} | {row['estimator']} | {row['seeds']} | {_ms(row)} | {nb201} | {within} | "
            f"{row['mean_queries']:.1f} |"
        )
    lines += [
        "",
        "NB201 reports test accuracy too; the embedded ground truth has validation accuracy only. One seed of full "
        f"training (`{FULL}`) pays ~2,000 s per arch, so the same budget buys about 6 archs; with fewer archs than its "
        "population (10) REA is still sampling at random, and so is the surrogate searcher before its first fit, "
        "hence their rows equal random search's.",
    ]
    return lines


def _headline(headline: dict) -> list[str]:
    lines = [
        "",
        "## Cheap estimators against full training, at an equal number of queried archs",
        "",
        f"Each search ends after a fixed number of paid archs (no time budget). Speed-up = mean search cost with "
        f"`{FULL}` (one seed of NB201's 200-epoch training, recorded GPU seconds) / the estimator's; drop = its "
        f"x-valid accuracy minus the estimator's. `bpe` is `{headline['live_bpe']}` "
        f"({headline['live_bpe_setting']}), trained live on this machine's CPU, so its speed-up compares CPU seconds "
        "here with NB201's GPU seconds.",
    ]
    for queries, rows in headline["by_queries"].items():
        lines += ["", f"At {queries} archs per search: " + _ranges(rows)]
    for queries, rows in headline["by_queries"].items():
        lines += [
            "",
            f"### {queries} archs per search",
            "",
            "| searcher | estimator | seeds | x-valid | search cost | speed-up vs full training | accuracy drop |",
            "| --- | --- | --- | --- | --- | --- | --- |",
        ]
        for row in rows:
            speedup = "free" if row["speedup"] is None else f"{row['speedup']:,.0f}x"
            lines.append(
                f"| {row['searcher']} | {row['estimator']} | {row['seeds']} | {_ms(row)} | "
                f"{_seconds(row['mean_cost'])} | {speedup} | {row['drop']:+.2f} |"
            )
    return lines


def _ranges(rows: list[dict]) -> str:
    """'tabular-hp12 17-18x cheaper, drop -0.06 to +0.07; ...' over the searchers, per estimator."""
    parts = []
    for estimator in dict.fromkeys(row["estimator"] for row in rows if row["estimator"] != FULL):
        mine = [row for row in rows if row["estimator"] == estimator]
        drops = [row["drop"] for row in mine]
        speedups = [row["speedup"] for row in mine if row["speedup"] is not None]
        cost = f"{min(speedups):,.0f}-{max(speedups):,.0f}x cheaper" if speedups else "free"
        parts.append(f"`{estimator}` {cost}, accuracy drop {min(drops):+.2f} to {max(drops):+.2f}")
    return "; ".join(parts) + " (over the searchers)."


def _darts(rows: list[dict]) -> list[str]:
    lines = [
        "",
        "## DARTS on the NB201 supernet",
        "",
        "| searcher | setting | seeds | x-valid of the derived arch | NB201 (standard setting) | derived archs |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        archs = "; ".join(
            f"`{s['arch_str']}` ({s['parameter_free_edges']}/6 parameter-free, {s['skip_edges']} skip)"
            for s in row["per_seed"]
        )
        lines.append(
            f"| {row['searcher']} | {row['setting']} | {row['seeds']} | {_ms(row)} | {row['nb201_mean']:.2f} | "
            f"{archs} |"
        )
    lines += ["", "Derived arch after each tenth of the epochs (x-valid of the arch; parameter-free edges of 6):", ""]
    for row in rows:
        for seed in row["per_seed"]:
            marks = sorted({max(0, round(len(seed["per_epoch_x_valid"]) * k / 10) - 1) for k in range(1, 11)})
            trace = ", ".join(
                f"e{i + 1} {seed['per_epoch_x_valid'][i]:.1f} ({seed['per_epoch_parameter_free'][i]})" for i in marks
            )
            lines.append(f"- {row['searcher']} seed {seed['seed']}: {trace}")
    lines += [
        "",
        "NB201's standard setting (C=16, N=5, 32 px, all 25k train images, 50 epochs) needs a GPU: "
        "`bpebench search darts-v1 --budget 100000 --seeds 3 --data-root DIR --device cuda` (and darts-v2).",
    ]
    return lines


def _ms(row: dict) -> str:
    return "n/a" if row["n"] == 0 else f"{row['mean']:.2f} ± {row['std']:.2f}"


def _seconds(value: float) -> str:
    if value >= 3600:
        return f"{value / 3600:,.1f} h"
    return f"{value:,.0f} s"


if __name__ == "__main__":
    main()
