"""`bpebench leaderboard`: regenerate results/ tables and plots from stored suite runs."""

from __future__ import annotations

import argparse

from harness import records
from harness.app.suite import SUITES


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("leaderboard", help="regenerate results/ from stored suite runs (no new work)")
    parser.add_argument(
        "--suite", action="append", choices=SUITES, help="suites to include (default: every suite with a stored run)"
    )
    parser.add_argument("--out", default="results", help="output folder (default: results)")
    parser.set_defaults(handler=_leaderboard)


def _leaderboard(args: argparse.Namespace) -> int:
    from harness.app.leaderboard import write_all
    from harness.app.report import available_suites, build_report

    out = records.check_output_folder(args.out, "--out")
    suites = args.suite or available_suites()
    if not suites:
        raise ValueError("no stored suite runs; run `bpebench suite quick` first")
    for path in write_all([build_report(s) for s in suites], out):
        print(f"wrote {path}")
    return 0
