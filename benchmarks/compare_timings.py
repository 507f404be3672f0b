"""Fail when a pytest-benchmark timing regressed against the committed baseline.

Compares the minimum time of each benchmark (the least noisy statistic) in LATEST against BASELINE.
Usage: python -m benchmarks.compare_timings BASELINE LATEST [--max-regression 0.25]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def minima(path: Path) -> dict[str, float]:
    data = json.loads(path.read_text())
    return {b["fullname"]: b["stats"]["min"] for b in data["benchmarks"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("baseline", type=Path)
    parser.add_argument("latest", type=Path)
    parser.add_argument("--max-regression", type=float, default=0.25, help="allowed slowdown as a fraction")
    args = parser.parse_args()
    if not args.baseline.exists():
        print(f"no baseline at {args.baseline}; copy {args.latest} there to create one", file=sys.stderr)
        return 2
    base, new = minima(args.baseline), minima(args.latest)
    failed = False
    print(f"{'benchmark':<60} {'baseline ms':>12} {'latest ms':>10} {'change':>8}")
    for name in sorted(base.keys() & new.keys()):
        change = new[name] / base[name] - 1
        flag = "  REGRESSION" if change > args.max_regression else ""
        failed |= bool(flag)
        print(f"{name:<60} {base[name] * 1e3:>12.2f} {new[name] * 1e3:>10.2f} {change:>+8.0%}{flag}")
    for name in sorted(base.keys() - new.keys()):
        print(f"{name:<60} missing from the latest run")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
