"""The `bpebench` command: one subcommand module per job, each adding its parser and handler."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import signal
import sys
import threading
from collections.abc import Callable, Sequence

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
