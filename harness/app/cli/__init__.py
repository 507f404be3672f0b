"""The `bpebench` command: one subcommand module per job, each adding its parser and handler."""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
import threading
from collections.abc import Callable, Sequence

COMMANDS: dict[str, str] = {
    "arch": "every stored metric of one architecture, per seed, with its string and isomorphism class",
    "data": "build, inspect and extend the ground-truth HDF5 file",
    "estimate": "rank archs with an estimator and compare with ground truth",
    "gpu-check": "check the fast GPU trainer: throughput, NB201's 12-epoch protocol against its records, DARTS-V1",
    "leaderboard": "regenerate results/ from stored suite runs (no new work)",
    "plan": "what a suite would run and skip, why, and about how long (nothing runs)",
    "predictors": "learned predictors: tau against the number of labelled archs k, label cost counted",
    "mip": "search the BPE space with Minimum Importance Pruning (and random search at the same budget)",
    "search": "run a NAS searcher with an estimator under a budget, over seeds",
    "suite": "run a benchmark suite (resumes from stored results)",
    "train": "train one architecture under a BPE and print accuracy per epoch and the cost",
}
"""Subcommands (module `harness.app.cli.<name, - as _>`, defining `add_parser(subparsers)`) and their one-line help:
`bpebench --help` lists them without importing any; a command imports only its own module."""

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
            importlib.import_module(f"harness.app.cli.{name.replace('-', '_')}").add_parser(subparsers)
        else:
            subparsers.add_parser(name, help=help_text)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    restore = _interrupt_on_sigterm()
    try:
        return int(args.handler(args) or 0)
    except (ValueError, OSError, EOFError) as err:
        # bad input, and the expected failures of reading and writing user-named files (OS, HDF5, pickle, zip)
        print(f"bpebench {args.command}: error: {describe_error(err)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted; stored results are kept and a rerun resumes", file=sys.stderr)
        return 130
    finally:
        restore()


def _interrupt_on_sigterm() -> Callable[[], None]:
    """Make SIGTERM shut down as Ctrl-C does (workers stopped, stores closed); returns what puts the old one back."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, interrupt)
    return lambda: signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


def describe_error(err: BaseException) -> str:
    """The message of an expected error, naming the file an OS error is about."""
    if isinstance(err, OSError) and err.filename is not None:
        target = f"{err.filename} -> {err.filename2}" if err.filename2 is not None else str(err.filename)
        return f"{target}: {err.strerror or err}"
    if isinstance(err, ValueError | OSError):
        return str(err)
    return f"{type(err).__name__}: {err}"
