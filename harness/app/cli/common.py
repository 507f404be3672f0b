"""Options and output helpers shared by subcommands."""

from __future__ import annotations

import argparse
import json
import math

from harness.datasets import DATASETS
from harness.groundtruth import GroundTruth


def add_groundtruth_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--groundtruth",
        metavar="PATH",
        help="ground-truth HDF5 file (default: $BPEBENCH_GROUNDTRUTH or the user cache; built on first use)",
    )


def add_dataset_option(parser: argparse.ArgumentParser, default: str = "cifar10-valid") -> None:
    parser.add_argument("--dataset", default=default, choices=DATASETS, help=f"NB201 dataset (default: {default})")


def open_groundtruth(args: argparse.Namespace) -> GroundTruth:
    return GroundTruth.open(args.groundtruth)


def print_json(payload: object) -> None:
    print(json.dumps(strict_json(payload), indent=2, sort_keys=True))


def strict_json(value: object) -> object:
    """NaN/inf -> null (recursively) so the output is strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: strict_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [strict_json(v) for v in value]
    return value


def fmt_ci(estimate: dict, digits: int = 3) -> str:
    """'0.651 [0.640, 0.662]' from a metrics.Estimate dict."""
    value, low, high = estimate["value"], estimate["low"], estimate["high"]
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"
