"""Zero-cost score table: synflow, jacob_cov, naswot, snip and grad_norm of NB201 archs, in a results store.

Each arch's scores are stored under the key of the registered zero-cost estimator of that proxy at its default size
(C=16, N=5, batch 64, seed 0), exactly as `estimators.create(proxy, gt, execution=Execution(store=...))` would store
them, so predictors and any later estimate read them instead of recomputing. Archs are taken in one fixed random
order of all 15,625 (numpy seed 0), so the first n of any run are a uniform sample and `--archs 15625` extends the
same table. Resumable: archs whose five proxies are stored are skipped; a kill loses at most the arch in flight.

Per arch the four batch proxies share one network and one forward pass (`zerocost.score`), synflow builds its own
copy; its seconds are measured alone and the batch proxies' shared seconds are split evenly among the four.

Usage (CPU, what results/zerocost-cifar10-valid.h5 holds):
    nice -n 19 timeout 4000 python -m benchmarks.zerocost_table --archs 2000 --data-root ../shared/data
All 15,625 on a GPU (device seconds are recorded per row):
    python -m benchmarks.zerocost_table --archs 15625 --device cuda --data-root ../shared/data
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
from harness import records
from harness.datasets import NUM_CLASSES, RESOLUTION
from harness.estimation import Execution
from harness.groundtruth import GroundTruth
from harness.store import Result, Store
from harness.stored import estimator_key, estimator_record
from harness.train import device_label

TABLE_PROXIES: tuple[str, ...] = ("synflow", "jacob_cov", "naswot", "snip", "grad_norm")
BATCH_PROXIES = tuple(p for p in TABLE_PROXIES if p not in zerocost.DATA_FREE)
DEFAULT_STORE = Path("results/zerocost-cifar10-valid.h5")
ORDER_SEED = 0
SEED = 0
"""The estimate's seed: network initialisation and the batch draw."""


def arch_order(num_archs: int) -> np.ndarray:
    """The fixed random order archs are scored in."""
    return np.random.default_rng(ORDER_SEED).permutation(num_archs)


def table_estimators(gt: GroundTruth) -> dict[str, zerocost.ZeroCostEstimator]:
    """The registered estimator of each table proxy at its default size (their store keys name the table)."""
    return {p: zerocost.ZeroCostEstimator(gt, p, zerocost.ZeroCostConfig(), Execution()) for p in TABLE_PROXIES}


def score_arch(arch_str: str, batch: zerocost.Batch, dataset: str, device: torch.device) -> dict[str, tuple]:
    """proxy -> (value, seconds) of one arch on `device`."""
    config = zerocost.ZeroCostConfig()
    classes, resolution = NUM_CLASSES[dataset], RESOLUTION[dataset]
    start = time.perf_counter()
    net = zerocost._build(arch_str, SEED, config.channels, config.cells, classes).to(device)
    value = zerocost.synflow(net, resolution)
    synflow_seconds = time.perf_counter() - start
    start = time.perf_counter()
    net = zerocost._build(arch_str, SEED, config.channels, config.cells, classes).to(device)
    values = zerocost.batch_proxies(net, batch, set(BATCH_PROXIES))
    shared = (time.perf_counter() - start) / len(BATCH_PROXIES)
    return {"synflow": (value, synflow_seconds)} | {p: (values[p], shared) for p in BATCH_PROXIES}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archs", type=int, default=2000, help="first N archs of the fixed order (default: 2000)")
    parser.add_argument("--dataset", default="cifar10-valid")
    parser.add_argument("--store", type=Path, default=DEFAULT_STORE)
    parser.add_argument("--data-root", help="folder holding the datasets (default: $BPEBENCH_DATA_ROOT or shared data)")
    parser.add_argument("--device", default="cpu", help="torch device of networks and batch (default: cpu)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default: 1)")
    parser.add_argument("--groundtruth", help="ground-truth HDF5 (default: the user cache)")
    args = parser.parse_args()
    if not 1 <= args.archs <= 15625:
        parser.error(f"--archs must be in 1..15625, got {args.archs}")
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    gt = GroundTruth.open(args.groundtruth, build=False)
    estimators = table_estimators(gt)
    keys = {p: estimator_key(e) for p, e in estimators.items()}
    config = zerocost.ZeroCostConfig()
    with Store(args.store, compact_every=100) as store:
        for proxy, estimator in estimators.items():
            store.add_config(keys[proxy], estimator_record(estimator))
        wanted = arch_order(len(gt.arch_strings))[: args.archs]
        todo = [int(a) for a in wanted if not all(store.has(keys[p], args.dataset, a, SEED) for p in TABLE_PROXIES)]
        print(f"{args.archs - len(todo)} of {args.archs} archs stored; scoring {len(todo)} on {device}", flush=True)
        if not todo:
            return
        loaded = zerocost.real_batch(args.dataset, config.batch_size, SEED, args.data_root)
        batch = zerocost.Batch(loaded.images.to(device), loaded.labels.to(device), loaded.num_classes)
        label = device_label(args.device)
        tic = time.perf_counter()
        for arch in tqdm(todo, unit="arch", desc="zero-cost table", mininterval=30):
            arch_str = gt.arch_strings[arch]
            for proxy, (value, seconds) in score_arch(arch_str, batch, args.dataset, device).items():
                if store.has(keys[proxy], args.dataset, arch, SEED):
                    continue
                macs = zerocost.proxy_macs(
                    arch_str, proxy, config.batch_size, config.channels, config.cells,
                    NUM_CLASSES[args.dataset], RESOLUTION[args.dataset],
                )  # fmt: skip
                result = Result(arch, SEED, float(value), wall_seconds=seconds, failed=not np.isfinite(value),
                                eval_seconds=seconds, eval_macs=macs, device=label)  # fmt: skip
                store.put(keys[proxy], args.dataset, result)
        elapsed = time.perf_counter() - tic
    summary = {
        "archs_scored": len(todo),
        "wall_seconds": elapsed,
        "seconds_per_arch": elapsed / len(todo),
        "device": label,
        "store": str(args.store),
        "keys": keys,
        "provenance": records.collect(),
    }
    print(json.dumps(summary, indent=1, default=str))


if __name__ == "__main__":
    main()
