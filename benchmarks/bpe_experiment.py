"""Rank agreement and cost of CPU-sized BPEs against NB201's 200-epoch x-valid accuracy, on real CIFAR-10 images.

Trains the same seeded sample of unique archs under each BPE (cheapest first) on cifar10-valid built from the JPEGs
in the reference data, through the results store (an interrupted run resumes where it stopped), and writes
`results/bpe_cpu_experiment.json` and `.md` after every BPE, so a partial run still leaves its numbers.

    python -m benchmarks.bpe_experiment                      # cpu-tiny, cpu-small, cpu-medium on 100 archs
    python -m benchmarks.bpe_experiment --presets cpu-tiny --archs 20 --out /tmp/try
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

import numpy as np

import estimators as registry
from estimators.bpe import bpe
from harness import paths
from harness.estimation import Execution
from harness.evaluate import Evaluation, Target, evaluate, select_archs
from harness.groundtruth import GroundTruth
from harness.records import CODE_ONLY, fmt_estimate, strict_json, write_atomic
from harness.train import PRESETS

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PRESETS = ("cpu-tiny", "cpu-small", "cpu-medium")
BASELINES = ("params", "flops")
PACKAGES = ("torch", "numpy", "scipy", "h5py", "distributed")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    presets = [p.strip() for p in args.presets.split(",") if p.strip()]
    unknown = [p for p in presets if p not in PRESETS]
    if unknown:
        raise SystemExit(f"unknown preset(s) {unknown}; available: {', '.join(PRESETS)}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    payload = {"provenance": _provenance(args), "rows": [], "baselines": []}
    with GroundTruth.open(args.groundtruth) as gt:
        archs = select_archs(str(args.archs), gt, seed=args.seed)
        target = Target("x-valid")
        payload["setup"] = {
            "dataset": args.dataset,
            "archs": archs.tolist(),
            "arch_sample": f"select_archs({str(args.archs)!r}, gt, seed={args.seed}) (unique archs)",
            "target": str(target),
            "data_root": Path(args.data_root).name,  # the folder's name only: no machine-specific path
            "bootstrap": args.bootstrap,
        }
        for name in BASELINES:
            result = evaluate(registry.create(name, gt), gt, args.dataset, archs, args.seed, target, args.bootstrap)
            payload["baselines"].append(_row(name, result))
        for preset in presets:
            estimator = bpe(
                gt,
                PRESETS[preset],
                execution=Execution(args.data_root, args.store, args.workers, threads=args.threads),
                curve=args.curve,
            )
            result = evaluate(estimator, gt, args.dataset, archs, args.seed, target, args.bootstrap)
            payload["rows"].append(_row(preset, result) | {"bpe": PRESETS[preset].to_dict()})
            payload["provenance"]["finished_at"] = _now()
            _write(out, payload)
            print(_summary(payload["rows"][-1]), flush=True)
    _write(out, payload)
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", default=",".join(DEFAULT_PRESETS), help="comma-separated BPE presets, in order")
    parser.add_argument("--archs", default="100", help="sample size of unique archs, or i,j,k (default: 100)")
    parser.add_argument("--seed", type=int, default=0, help="arch sample and training seed (default: 0)")
    parser.add_argument("--dataset", default="cifar10-valid")
    parser.add_argument("--data-root", default=str(paths.shared_data_dir()), help="default: the reference data")
    parser.add_argument("--groundtruth", help="ground-truth file (default: the user cache, built on first use)")
    parser.add_argument(
        "--store",
        default=str(paths.cache_dir() / "bpe_cpu_experiment.h5"),
        help="results store (default: <cache>/bpe_cpu_experiment.h5, apart from the shared default store)",
    )
    parser.add_argument("--workers", type=int, default=1, help="local worker processes (default: 1, inline)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per worker (default: 1)")
    parser.add_argument("--curve", action="store_true", help="evaluate after every epoch (costs more evaluation)")
    parser.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples for the CIs")
    parser.add_argument("--out", default=str(ROOT / "results" / "bpe_cpu_experiment"), help="output path stem")
    return parser


def _row(name: str, result: Evaluation) -> dict:
    report = result.report.to_dict()
    costs = result.estimation.costs
    meta = result.estimation.metadata
    return {
        "name": name,
        "n": report["n"],
        "n_failed": report["n_failed"],
        "kendall_tau": report["kendall_tau"],
        "spearman": report["spearman"],
        "precision_at_5": report["precision_at_5"],
        "regret": report["regret"],
        "total_cost_seconds": float(np.nansum(costs)),
        "cost_per_arch_seconds": float(np.nanmean(costs)) if len(costs) else 0.0,
        "device": result.estimation.device,
        "train_macs_per_arch": float(np.nanmean(result.estimation.train_macs)),
        "eval_macs_per_arch": float(np.nanmean(result.estimation.eval_macs)),
        "total_macs": meta.get("total_macs"),
        "computed": meta.get("computed"),
        "reused": meta.get("reused"),
        "store": Path(meta["store"]).name if meta.get("store") else None,
        "store_key": meta.get("store_key"),
        "failures": meta.get("failures", []),
        "wall_seconds_this_run": result.wall_seconds,
        "scores": [None if not math.isfinite(s) else float(s) for s in result.estimation.scores],
        "costs": [None if not math.isfinite(c) else float(c) for c in costs],
    }


def _provenance(args: argparse.Namespace) -> dict:
    versions = {}
    for package in PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return {
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "git_commit": _git("rev-parse", "HEAD"),
        "git_dirty": bool(_git("status", "--porcelain", "--untracked-files=no", "--", *CODE_ONLY)),
        "started_at": _now(),
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(),
            "load_average_at_start": list(os.getloadavg()),
        },
        "python": platform.python_version(),
        "packages": versions,
        "workers": args.workers,
        "threads_per_worker": args.threads,
    }


def _git(*command: str) -> str | None:
    try:
        return subprocess.run(["git", *command], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _write(out: Path, payload: dict) -> None:
    """JSON and Markdown, each written to a temporary file and renamed (a kill leaves the previous version)."""
    for suffix, text in ((".json", json.dumps(strict_json(payload), indent=2) + "\n"), (".md", _markdown(payload))):
        write_atomic(out.with_suffix(suffix), text)


def _summary(row: dict) -> str:
    return (
        f"{row['name']}: tau {fmt_estimate(row['kendall_tau'])}, n={row['n']} ({row['n_failed']} failed), "
        f"{row['cost_per_arch_seconds']:.1f} s/arch, total {row['total_cost_seconds'] / 60:.1f} min"
    )


def _markdown(payload: dict) -> str:
    prov, setup = payload["provenance"], payload.get("setup", {})
    lines = [
        "# CPU-sized BPEs on NB201: rank agreement vs cost",
        "",
        f"Kendall tau-b (95% bootstrap CI, {setup.get('bootstrap')} resamples) of each BPE's final x-valid accuracy "
        f"against NB201's mean 200-epoch x-valid accuracy, on {setup.get('dataset')} built from the CIFAR-10 JPEGs "
        f"in the reference data; {len(setup.get('archs', []))} archs from {setup.get('arch_sample')}. "
        "Cost per arch in two units: measured seconds of training plus one evaluation of the 25k x-valid images on "
        f"the device named (this machine's CPU, {prov['workers']} worker(s) x {prov['threads_per_worker']} torch "
        "thread(s) on shared cores), and multiply-adds (MACs) of training and of evaluation; the trend compares MACs.",
        "",
        "| BPE | setting | n (failed) | Kendall tau [95% CI] | Spearman [95% CI] | s / arch (device) | total time | "
        "training MACs / arch | evaluation MACs / arch |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in payload["rows"]:
        setting = PRESETS[row["name"]].describe() if row["name"] in PRESETS else ""
        lines.append(
            f"| {row['name']} | {setting} | {row['n']} ({row['n_failed']}) | {fmt_estimate(row['kendall_tau'])} | "
            f"{fmt_estimate(row['spearman'])} | {row['cost_per_arch_seconds']:.1f} ({row['device']}) | "
            f"{row['total_cost_seconds'] / 60:.1f} min | {row['train_macs_per_arch']:.2g} | "
            f"{row['eval_macs_per_arch']:.2g} |"
        )
    for row in payload["baselines"]:
        lines.append(
            f"| {row['name']} (free baseline) | no training | {row['n']} ({row['n_failed']}) | "
            f"{fmt_estimate(row['kendall_tau'])} | {fmt_estimate(row['spearman'])} | free | 0 | 0 | 0 |"
        )
    lines += ["", *_trend(payload["rows"]), "", "## Provenance", ""]
    machine = prov["machine"]
    lines += [
        f"- command: `{prov['command']}`",
        f"- git commit: {prov['git_commit']}{' (with uncommitted changes)' if prov['git_dirty'] else ''}",
        f"- started {prov['started_at']}, last BPE finished {prov.get('finished_at', 'n/a')} (UTC)",
        f"- machine: {machine['platform']}, {machine['processor']}, {machine['cpu_count']} CPUs "
        f"(load average at start {', '.join(f'{v:.1f}' for v in machine['load_average_at_start'])}: shared cores)",
        f"- Python {prov['python']}; " + ", ".join(f"{k} {v}" for k, v in prov["packages"].items()),
        "",
    ]
    return "\n".join(lines)


def _trend(rows: list[dict]) -> list[str]:
    """One sentence on how tau moves with cost."""
    def macs(row: dict) -> float:
        return row["train_macs_per_arch"] + row["eval_macs_per_arch"]

    ranked = sorted((r for r in rows if r["kendall_tau"]["value"] is not None), key=macs)
    if len(ranked) < 2:
        return ["Fewer than two BPEs finished: no trend yet."]
    first, last = ranked[0], ranked[-1]
    ratio = macs(last) / max(macs(first), 1e-9)
    steps = ", ".join(f"{r['name']} {r['kendall_tau']['value']:.3f}" for r in ranked)
    return [
        f"By multiply-adds per arch: {steps}. From the cheapest to the dearest BPE, multiply-adds grow {ratio:.1f}x "
        f"and tau changes by {last['kendall_tau']['value'] - first['kendall_tau']['value']:+.3f}."
    ]


if __name__ == "__main__":
    start = time.perf_counter()
    code = main()
    print(f"done in {(time.perf_counter() - start) / 60:.1f} min", flush=True)
    sys.exit(code)
