"""Start-up time of `bpebench --help` and `bpebench estimate params --archs 200`, optionally beside another tree.

    python -m benchmarks.bench_startup [--repeat 5] [--against /path/to/other/checkout] [--json out.json]

Each command runs in a fresh interpreter (`python -m harness.app.cli ...` with the tree as working directory, so it
imports that tree's code), `--repeat` times; the report gives the minimum and median wall seconds and the peak RSS.
Both trees read the same ground-truth file (built first, outside the timing). Figures depend on the machine's load:
compare trees measured in one run, side by side.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

COMMANDS = {"help": ["--help"], "estimate params": ["estimate", "params", "--archs", "200"]}
ROOT = Path(__file__).resolve().parents[1]


PEAK_RSS = """
import resource, runpy, sys
sys.argv[0] = "bpebench"
code = 0
try:
    runpy.run_module("harness.app.cli", run_name="__main__")
except SystemExit as exit:
    code = exit.code or 0
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)
sys.exit(code)
"""
"""Runs the CLI as `python -m harness.app.cli` does and reports its own peak RSS (KB) on stderr."""


def _run_once(tree: Path, argv: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one run of the CLI of `tree`."""
    env = dict(os.environ, PYTHONPATH=str(tree))
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", PEAK_RSS, *argv], cwd=tree, env=env, check=True,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)  # fmt: skip
    wall = time.perf_counter() - start
    return wall, int(done.stderr.strip().splitlines()[-1]) / 1024


def measure(tree: Path, repeat: int) -> dict:
    """Per command: min and median wall seconds over `repeat` runs, and the largest peak RSS seen."""
    found = {}
    for name, argv in COMMANDS.items():
        runs = [_run_once(tree, argv) for _ in range(repeat)]
        walls = [w for w, _ in runs]
        found[name] = {
            "min_s": round(min(walls), 3),
            "median_s": round(statistics.median(walls), 3),
            "repeat": repeat,
            "peak_rss_mb": round(max(r for _, r in runs)),
        }
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs per command (default: 5)")
    parser.add_argument("--against", type=Path, help="another checkout to measure the same way (e.g. main)")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON")
    args = parser.parse_args()
    subprocess.run([sys.executable, "-m", "harness.app.cli", "data", "info"], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL, env=dict(os.environ, PYTHONPATH=str(ROOT)))  # fmt: skip
    trees = {"this tree": ROOT} | ({"against": args.against.resolve()} if args.against else {})
    results = {label: {"path": str(tree), **measure(tree, args.repeat)} for label, tree in trees.items()}
    load = os.getloadavg()[0]
    for label, figures in results.items():
        for name in COMMANDS:
            f = figures[name]
            print(
                f"{label:<10} {name:<16} min {f['min_s']:.2f} s  median {f['median_s']:.2f} s  "
                f"peak RSS {f['peak_rss_mb']} MB  (n={f['repeat']})"
            )
    print(f"1-minute load average during the run: {load:.1f} on {os.cpu_count()} CPUs")
    if args.json:
        args.json.write_text(json.dumps({"load_average": load, "results": results}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
