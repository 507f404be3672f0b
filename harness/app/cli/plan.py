"""`bpebench plan SUITE`: what a suite would run and skip, why, and about how long, without running anything."""

from __future__ import annotations

import argparse
import math

from harness.app.cli import COMMANDS
from harness.app.cli.common import add_groundtruth_option, open_groundtruth


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "plan",
        help=COMMANDS["plan"],
        description="Checks every entry of a suite (tables merged, images present) and predicts the cost of live "
        "training with the cost model (one CPU core, divided over --workers). `bpebench train ... --dry-run` and "
        "`bpebench search ... --dry-run` do the same for one command.",
    )
    parser.add_argument("name", metavar="SUITE", help="a shipped suite's name or a suite TOML file")
    add_groundtruth_option(parser)
    parser.add_argument("--workers", type=int, default=1, help="worker processes the run would use (default: 1)")
    parser.set_defaults(handler=_plan)


def _plan(args: argparse.Namespace) -> int:
    from harness.app.plan import describe_seconds, plan_suite
    from harness.app.suite import Suite

    if args.workers < 1:
        raise ValueError(f"--workers must be at least 1, got {args.workers}")
    suite = Suite.load(args.name)
    images = suite.images_root()
    data_root = str(images) if images is not None and images.exists() else None
    with open_groundtruth(args) as gt:
        rows = plan_suite(suite, gt, data_root)
    print(f"suite {suite.label}: {suite.description}")
    for row in rows:
        detail = describe_seconds(row.seconds, args.workers) if row.status == "run" else f"{row.why}; {row.enable}"
        print(f"  {row.status:<4}  {row.what}: {detail}")
    modelled = [r.seconds for r in rows if r.status == "run" and r.seconds is not None and not math.isnan(r.seconds)]
    skipped = sum(r.status == "skip" for r in rows)
    print(
        f"{len(rows) - skipped} would run, {skipped} would be skipped; modelled live training "
        f"{describe_seconds(sum(modelled), args.workers) if modelled else 'none'}"
    )
    return 0
