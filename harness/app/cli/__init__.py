"""The `bpebench` command: one subcommand module per job, each adding its parser and handler."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence

HELPER_MODULES = {"common", "options", "__main__"}
"""Every other module under harness.app.cli is a subcommand defining `add_parser(subparsers)`."""

EXIT_BAD_INPUT = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bpebench", description="Benchmark budgeted performance estimators on NAS-Bench-201."
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for info in pkgutil.iter_modules(__path__):
        if info.name not in HELPER_MODULES:
            importlib.import_module(f"harness.app.cli.{info.name}").add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except ValueError as err:
        print(f"bpebench {args.command}: error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted; stored results are kept and a rerun resumes", file=sys.stderr)
        return 130
