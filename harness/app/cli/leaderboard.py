"""`bpebench leaderboard`: regenerate results/ tables and plots from stored suite runs."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from harness import records
from harness.app.cli import COMMANDS

DEFAULT_PREDICTORS = "results/predictors.json"


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("leaderboard", help=COMMANDS["leaderboard"])
    parser.add_argument(
        "--suite",
        action="append",
        metavar="NAME|FILE",
        help="a shipped suite's name or a suite TOML file (repeatable; default: every stored suite run)",
    )
    parser.add_argument("--out", default="results", help="output folder (default: results)")
    parser.add_argument(
        "--force", action="store_true", help="replace a leaderboard under --out even when it has more entries"
    )
    parser.add_argument(
        "--predictors",
        metavar="FILE",
        default=DEFAULT_PREDICTORS,
        help=f"stored learned-predictor result whose k = 100 rows are shown (default: {DEFAULT_PREDICTORS}, "
        "if present; '' for none)",
    )
    parser.set_defaults(handler=_leaderboard)


def _leaderboard(args: argparse.Namespace) -> int:
    from harness.app.leaderboard import write_all
    from harness.app.report import available_suites, build_report, record_of

    out = records.check_output_folder(args.out, "--out")
    predictors = _predictors(args.predictors)
    suite_records = [record_of(s) for s in args.suite] if args.suite else available_suites()
    if not suite_records:
        raise ValueError("no stored suite runs; run `bpebench suite quick` first")
    reports = [build_report(r) for r in suite_records]
    for path in write_all(reports, out, force=args.force, predictors=predictors):
        print(f"wrote {path}")
    missing = sum(len(r.skipped) for r in reports)
    if missing:
        print(f"{missing} entries are missing (listed at the top of {out / 'LEADERBOARD.md'})")
    return 0


def _predictors(path: str) -> dict | None:
    """The stored predictors result at `path`: None when it is left out ('') or, for the default, absent."""
    if not path or (path == DEFAULT_PREDICTORS and not Path(path).is_file()):
        return None
    try:
        stored = json.loads(Path(path).read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"--predictors {path} is not a predictors result (JSON): {err}") from err
    if not isinstance(stored, dict) or not isinstance(stored.get("curves"), dict) or "rows" not in stored["curves"]:
        raise ValueError(f"--predictors {path} is not a predictors result: no 'curves' rows")
    return stored
