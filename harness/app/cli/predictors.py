"""`bpebench predictors`: learned-predictor curves (tau, Spearman, top-10% tau against k) with their label cost."""

from __future__ import annotations

import argparse
import sys

from harness.app.cli import COMMANDS
from harness.app.cli.common import add_dataset_option, add_groundtruth_option, open_groundtruth, print_json


def _ints(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from err


def _names(text: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in text.split(",") if v.strip())


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from estimators.predictor import REGRESSORS
    from harness.app.predictors import DEFAULT_TABLE, FEATURE_SETS, K_VALUES, TEST_SIZE

    parser = subparsers.add_parser("predictors", help=COMMANDS["predictors"])
    add_dataset_option(parser)
    add_groundtruth_option(parser)
    parser.add_argument("--k", type=_ints, default=K_VALUES, help="labelled archs, comma-separated (default: "
                        + ",".join(map(str, K_VALUES)) + ")")  # fmt: skip
    parser.add_argument("--seeds", type=int, default=10, help="seeds per row (default: 10)")
    parser.add_argument("--features", type=_names, default=tuple(FEATURE_SETS),
                        help=f"feature sets, comma-separated (default: all: {', '.join(FEATURE_SETS)})")  # fmt: skip
    parser.add_argument("--regressors", type=_names, default=REGRESSORS,
                        help=f"regressors, comma-separated (default: {', '.join(REGRESSORS)})")  # fmt: skip
    parser.add_argument("--table", default=str(DEFAULT_TABLE), help="zero-cost table store (default: %(default)s)")
    parser.add_argument("--test-size", type=int, default=TEST_SIZE, help="fixed test archs (default: %(default)s)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.set_defaults(handler=_predictors)


def _predictors(args: argparse.Namespace) -> int:
    from harness.app.predictors import CurveSpec, format_rows, run_curves

    spec = CurveSpec(args.dataset, tuple(args.k), args.seeds, tuple(args.features), tuple(args.regressors),
                     args.table, args.test_size)  # fmt: skip
    gt = open_groundtruth(args)
    quiet = args.json

    def progress(row: dict) -> None:
        if not quiet:
            print(f"  {row['features']} {row['regressor']} k={row['k']}: tau {row['kendall_tau']['mean']:.3f}",
                  file=sys.stderr, flush=True)  # fmt: skip

    result = run_curves(gt, spec, progress)
    if args.json:
        print_json(result)
    else:
        print("\n".join(format_rows(result)))
    return 0
