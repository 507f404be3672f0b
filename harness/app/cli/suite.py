"""`bpebench suite NAME`: run a benchmark suite through the resumable store."""

from __future__ import annotations

import argparse

from harness.app.cli import COMMANDS
from harness.app.cli.common import add_groundtruth_option
from harness.app.suite import SUITES, Suite


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "suite",
        help=COMMANDS["suite"],
        description=f"Shipped suites: {', '.join(SUITES)}; or give a TOML file in the same format.",
    )
    parser.add_argument("name", metavar="NAME", help=f"{', '.join(SUITES)}, or a suite TOML file")
    add_groundtruth_option(parser)
    parser.add_argument("--store", metavar="PATH", help="results store (default: <cache>/results.h5)")
    parser.add_argument("--workers", type=int, help="local worker processes (default: one per core)")
    parser.add_argument("--scheduler", metavar="ADDR", help="Dask scheduler address, e.g. tcp://127.0.0.1:8786")
    parser.set_defaults(handler=_suite)


def _suite(args: argparse.Namespace) -> int:
    from harness.app.suite_run import run_suite

    if args.workers is not None and args.workers < 1:
        raise ValueError(f"--workers must be at least 1, got {args.workers}")
    run_suite(Suite.load(args.name), args.groundtruth, args.store, args.workers, args.scheduler)
    return 0
