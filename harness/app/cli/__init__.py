"""The `bpebench` command: one subcommand module per job, each adding its parser and handler."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

COMMANDS: dict[str, str] = {
    "arch": "every stored metric of one architecture, per seed, with its string and isomorphism class",
    "data": "build, inspect and extend the ground-truth HDF5 file",
    "estimate": "rank archs with an estimator and compare with ground truth",
    "leaderboard": "regenerate results/ from stored suite runs (no new work)",
    "plan": "what a suite would run and skip, why, and about how long (nothing runs)",
    "mip": "search the BPE space with Minimum Importance Pruning (and random search at the same budget)",
    "search": "run a NAS searcher with an estimator under a budget, over seeds",
    "suite": "run a benchmark suite (resumes from stored results)",
    "train": "train one architecture under a BPE and print accuracy per epoch and the cost",
}
"""Subcommand modules (each defines `add_parser(subparsers)`) and their one-line help: `bpebench --help` lists them
without importing any; a command imports only its own module."""

EXIT_BAD_INPUT = 2


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser; only the subcommand named in `argv` (all when None) is imported and given its full options."""
    parser = argparse.ArgumentParser(
        prog="bpebench", description="Benchmark budgeted performance estimators on NAS-Bench-201."
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    chosen = None if argv is None else next((a for a in argv if not a.startswith("-")), "")
    for name, help_text in COMMANDS.items():
        if chosen is None or name == chosen:
            importlib.import_module(f"harness.app.cli.{name}").add_parser(subparsers)
        else:
            subparsers.add_parser(name, help=help_text)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except ValueError as err:
        print(f"bpebench {args.command}: error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted; stored results are kept and a rerun resumes", file=sys.stderr)
        return 130
