"""Validate the zero-cost proxies against NASLib's reference scores and NB201 ground truth on CIFAR-10.

For the archs of `nb201/naslib-zc-nasbench201-725.json` (cifar10 part; NASLib op tuples mapped to arch strings),
computes the proxies from one network instance per arch (one batch of cifar10-valid training images, network
seed = batch seed); grasp, which costs as much as the six others together, only on a seeded subset. Reports per
proxy: Spearman vs the reference scores, Spearman and Kendall tau-b (with bootstrap CIs) vs mean 200-epoch
cifar10-valid x-valid accuracy, the reference's own correlations with that target, the published values
(Abdelfattah et al., ICLR 2021), the seed-to-seed Spearman of our scores (a second batch and initialisation on a
subset: the ceiling any agreement with another implementation can reach), and seconds per arch with each proxy
computed alone. A diagnostic recomputes naswot counting also the ReLUs of cell branches that cannot reach the cell
output (they run in NASLib's graph, not in ours).

Usage: python -m benchmarks.zerocost_validation [--archs N] [--grasp-archs 200] [--threads 1] [--out results]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from estimators import zerocost
from harness import metrics, network, paths, records, space
from harness.groundtruth import GroundTruth
from harness.train import device_label

REFERENCE = "nb201/naslib-zc-nasbench201-725.json"
REFERENCE_NAMES = {"jacob_cov": "jacov", "naswot": "nwot"}
PUBLISHED = {"synflow": 0.74, "jacob_cov": 0.73, "snip": 0.60, "grad_norm": 0.59, "grasp": 0.51, "fisher": 0.36}
"""Abdelfattah et al., ICLR 2021: Spearman vs CIFAR-10 test accuracy over all NB201 archs."""
REQUIRED = {"synflow", "snip", "grad_norm", "jacob_cov", "naswot"}
"""Proxies whose Spearman with the reference must reach 0.9."""
DATASET = "cifar10-valid"


def naswot_all_relus(arch: str, batch: zerocost.Batch, seed: int) -> float:
    """Diagnostic: naswot with every non-`none` edge of each cell run, as in NASLib's graph.

    Reaches into the cell's private evaluation plan (network.Cell._plan): a diagnostic only, not an estimator.
    """
    ops = space.parse(arch)
    plan = tuple(
        (
            node,
            tuple((f"{to}<-{src}", src) for e, (to, src) in enumerate(space.EDGES) if to == node and ops[e] != "none"),
        )
        for node in range(1, network.NUM_NODES)
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = network.build(arch, num_classes=batch.num_classes)
    for cell in net.modules():
        if isinstance(cell, network.Cell):
            cell._plan = plan
    return zerocost.batch_proxies(net, batch, {"naswot"})["naswot"]


def rank_against(scores: np.ndarray, truth: np.ndarray, n_boot: int, seed: int) -> dict:
    report = metrics.rank_report(scores, truth, n_boot=n_boot, seed=seed)
    return {
        "n": report.n,
        "n_failed": report.n_failed,
        "spearman": vars(report.spearman),
        "kendall_tau": vars(report.kendall_tau),
    }


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman with non-finite values (failed or -inf) ranked lowest, tied."""
    return metrics.spearman(_floor(a), _floor(b))


def _floor(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(values)
    return np.where(finite, values, np.min(values[finite]) - 1 if finite.any() else 0.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archs", type=int, default=None, help="seeded subset of the reference archs (default: all)")
    parser.add_argument("--seed", type=int, default=0, help="batch and network seed (default: 0)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default: 1)")
    parser.add_argument("--grasp-archs", type=int, default=200, help="seeded subset scored with grasp too (costliest)")
    parser.add_argument(
        "--timing-archs", type=int, default=10, help="archs (of the grasp subset) timed per proxy alone"
    )
    parser.add_argument("--repeat-archs", type=int, default=50, help="archs (of the grasp subset) scored with seed + 1")
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--groundtruth", help="ground-truth HDF5 (default: the user cache)")
    parser.add_argument("--out", type=Path, default=Path("results"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    reference = json.loads((paths.shared_data_dir() / REFERENCE).read_text())["cifar10"]
    keys = sorted(reference)
    if args.archs is not None:
        keys = sorted(np.random.default_rng(args.seed).choice(keys, size=args.archs, replace=False).tolist())
    archs = [zerocost.naslib_arch(k) for k in keys]
    rng = np.random.default_rng(args.seed + 1)
    with_grasp = np.sort(rng.choice(len(keys), size=min(args.grasp_archs, len(keys)), replace=False))
    batch = zerocost.real_batch(DATASET, args.batch_size, args.seed)
    proxies = zerocost.PROXIES
    cheap = tuple(p for p in proxies if p != "grasp")

    scores = {p: np.full(len(keys), np.nan) for p in (*proxies, "naswot_all_relus")}
    computed = {p: np.ones(len(keys), dtype=bool) for p in scores}
    computed["grasp"] = np.isin(np.arange(len(keys)), with_grasp)
    seconds = np.zeros(len(keys))
    for i, arch in enumerate(tqdm(archs, desc="proxies", unit="arch")):
        asked = proxies if computed["grasp"][i] else cheap
        start = time.perf_counter()
        values = zerocost.score(arch, asked, batch, seed=args.seed)
        seconds[i] = time.perf_counter() - start
        for p in asked:
            scores[p][i] = values[p]
        scores["naswot_all_relus"][i] = naswot_all_relus(arch, batch, args.seed)

    alone = {p: [] for p in proxies}
    for i in tqdm(with_grasp[: args.timing_archs], desc="timing alone", unit="arch"):
        for p in proxies:
            start = time.perf_counter()
            zerocost.score(archs[i], [p], batch, seed=args.seed)
            alone[p].append(time.perf_counter() - start)

    repeat_batch = zerocost.real_batch(DATASET, args.batch_size, args.seed + 1)
    repeats = with_grasp[: args.repeat_archs]
    repeated = {p: np.full(len(repeats), np.nan) for p in proxies}
    for j, i in enumerate(tqdm(repeats, desc="second seed", unit="arch")):
        values = zerocost.score(archs[i], proxies, repeat_batch, seed=args.seed + 1)
        for p in proxies:
            repeated[p][j] = values[p]

    with GroundTruth.open(args.groundtruth) as gt:
        truth = gt.metric(DATASET, "x-valid", "acc")[[gt.index(a) for a in archs]]
    naslib_accuracy = np.array([reference[k]["val_accuracy"] for k in keys])
    rows = {}
    for p in scores:
        base = p.removesuffix("_all_relus")
        ref = np.array([reference[k][REFERENCE_NAMES.get(base, base)]["score"] for k in keys])
        on = computed[p]
        row = {
            "n": int(on.sum()),
            "spearman_vs_reference": spearman(scores[p][on], ref[on]),
            "vs_truth": rank_against(scores[p][on], truth[on], args.bootstrap, args.seed),
            "reference_vs_truth": rank_against(_floor(ref[on]), truth[on], args.bootstrap, args.seed),
        }
        if p in proxies:
            row |= {
                "published_spearman": PUBLISHED.get(p),
                "required_vs_reference": 0.9 if p in REQUIRED else None,
                "seed_to_seed_spearman": spearman(scores[p][repeats], repeated[p]),
                "seconds_per_arch_alone": float(np.mean(alone[p])),
            }
        rows[p] = row

    result = {
        "dataset": DATASET,
        "target": "x-valid:acc:200:mean",
        "n_archs": len(keys),
        "subset": args.archs,
        "seed": args.seed,
        "batch_size": args.batch_size,
        "threads": args.threads,
        "device": device_label("cpu"),
        "grasp_archs": len(with_grasp),
        "timing_archs": len(alone["synflow"]),
        "repeat_archs": len(repeats),
        "seconds_per_arch_all_seven": float(seconds[computed["grasp"]].mean()),
        "seconds_per_arch_six_without_grasp": float(seconds[~computed["grasp"]].mean())
        if len(with_grasp) < len(keys)
        else None,
        "naslib_val_accuracy_vs_truth_spearman": metrics.spearman(naslib_accuracy, truth),
        "proxies": rows,
        "archs": archs,
        "scores": {p: [float(v) if np.isfinite(v) else None for v in s] for p, s in scores.items()},
        "provenance": records.collect(),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "zerocost_validation.json").write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    (args.out / "zerocost_validation.md").write_text(markdown(result))
    print(markdown(result))


def _fmt(value: float | None) -> str:
    return records.fmt_num(value, absent="-")


_ci = records.fmt_estimate


def markdown(result: dict) -> str:
    lines = [
        "# Zero-cost proxies on NB201, CIFAR-10",
        "",
        f"{result['n_archs']} archs of NASLib's zero-cost reference file"
        + (f" (seeded subset of {result['subset']})" if result["subset"] else "")
        + f", grasp on a seeded subset of {result['grasp_archs']} of them; batch of {result['batch_size']} "
        f"cifar10-valid training images, network and batch seed {result['seed']}, {result['threads']} torch "
        "thread(s). Ground truth: mean 200-epoch cifar10-valid x-valid accuracy. Published: Abdelfattah et al. "
        "(ICLR 2021), Spearman vs CIFAR-10 test accuracy over all 15,625 archs. Seed-to-seed: our Spearman between "
        f"seeds {result['seed']} and {result['seed'] + 1} (other batch, other initialisation) on "
        f"{result['repeat_archs']} archs of the grasp subset. Seconds per arch: each proxy computed alone (network "
        f"build included), mean over {result['timing_archs']} archs; all seven together "
        f"{result['seconds_per_arch_all_seven']:.2f} s"
        + (
            f", the six without grasp together {result['seconds_per_arch_six_without_grasp']:.2f} s"
            if result["seconds_per_arch_six_without_grasp"] is not None
            else ""
        )
        + f" (wall clock on {result.get('device', 'this machine')}, shared: other jobs ran at the same time).",
        "",
        "| proxy | archs | Spearman vs reference (required) | seed-to-seed Spearman | Spearman vs truth [95% CI] "
        "| Kendall vs truth [95% CI] | reference's Spearman vs truth | published Spearman | seconds per arch (CPU) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, row in result["proxies"].items():
        required = row.get("required_vs_reference")
        lines.append(
            f"| {name} | {row['n']} | {_fmt(row['spearman_vs_reference'])}"
            + (f" (>= {required})" if required else "")
            + f" | {_fmt(row.get('seed_to_seed_spearman'))} | {_ci(row['vs_truth']['spearman'])} "
            f"| {_ci(row['vs_truth']['kendall_tau'])} | {_fmt(row['reference_vs_truth']['spearman']['value'])} "
            f"| {_fmt(row.get('published_spearman'))} | {_fmt(row.get('seconds_per_arch_alone'))} |"
        )
    lines += [
        "",
        "`naswot_all_relus` is a diagnostic, not an estimator: naswot with the ReLUs of cell branches that cannot "
        "reach the cell output counted too (NASLib's graph runs them; our network, like Mellor et al.'s code, which "
        "counts only ReLUs visited by the backward pass, does not).",
        "",
        "NASLib's own `val_accuracy` vs our ground truth: Spearman "
        f"{result['naslib_val_accuracy_vs_truth_spearman']:.3f}.",
        "",
        "Provenance: " + records.describe(result["provenance"]),
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
