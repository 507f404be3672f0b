"""Options and output helpers shared by subcommands."""

from __future__ import annotations

import argparse
import json

from harness.datasets import DATASETS
from harness.groundtruth import GroundTruth
from harness.records import fmt_estimate, strict_json


def add_groundtruth_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--groundtruth",
        metavar="PATH",
        help="ground-truth HDF5 file (default: $BPEBENCH_GROUNDTRUTH or the user cache; built on first use)",
    )


def add_dataset_option(parser: argparse.ArgumentParser, default: str = "cifar10-valid") -> None:
    parser.add_argument("--dataset", default=default, choices=DATASETS, help=f"NB201 dataset (default: {default})")


def open_groundtruth(args: argparse.Namespace) -> GroundTruth:
    """The file `--groundtruth` names (it must exist), else the default one, built on first use."""
    return GroundTruth.open(args.groundtruth, build=args.groundtruth is None)


def print_json(payload: object) -> None:
    print(json.dumps(strict_json(payload), indent=2, sort_keys=True))


fmt_ci = fmt_estimate
"""Old name of `harness.records.fmt_estimate`, kept for `cli/estimate.py` until it imports that."""
