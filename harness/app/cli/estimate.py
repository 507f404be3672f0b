"""`bpebench estimate NAME`: score an estimator against ground truth."""

from __future__ import annotations

import argparse

import estimators
from harness.app.cli import COMMANDS
from harness.app.cli.common import add_dataset_option, add_groundtruth_option, fmt_ci, open_groundtruth, print_json
from harness.app.cli.options import add_execution_flags, add_option_flags, live_options
from harness.evaluate import Target, evaluate, select_archs
from harness.records import fmt_num

SHOWN_FAILURES = 10
"""Failed archs named in the human output."""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "estimate",
        help=COMMANDS["estimate"],
        description="Estimators: " + "; ".join(f"{e.name}: {e.summary}" for e in estimators.entries()),
    )
    parser.add_argument("name", metavar="NAME", help="estimator name (see the list above)")
    add_groundtruth_option(parser)
    add_dataset_option(parser)
    parser.add_argument(
        "--archs", default="200", help="'all', 'unique', a sample size of unique archs, or i,j,k (default: 200)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the arch sample and the estimator (default: 0)")
    parser.add_argument(
        "--target", help="ground truth SPLIT[:METRIC[:HP[:SEED]]] (default: mean 200-epoch x-valid accuracy)"
    )
    parser.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples for the CIs (default: 1000)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    add_option_flags(parser, estimators.entries(), "estimator options (defaults: each estimator's)")
    add_execution_flags(parser)
    parser.set_defaults(handler=_estimate)


def _estimate(args: argparse.Namespace) -> int:
    entry = estimators.entry(args.name)
    if args.bootstrap < 1:
        raise ValueError(f"--bootstrap must be at least 1, got {args.bootstrap}")
    options = live_options(entry, args, progress=not args.json)
    with open_groundtruth(args) as gt:
        archs = select_archs(args.archs, gt, seed=args.seed)
        target = Target.parse(args.target, args.dataset)
        estimator = entry.factory(gt, **options)
        result = evaluate(estimator, gt, args.dataset, archs, args.seed, target, n_boot=args.bootstrap)
    payload = result.to_dict()
    if args.json:
        print_json(payload)
        return 0
    report = payload["report"]
    print(f"{args.name} on {args.dataset}, target {payload['target']}, n={report['n']}", end="")
    print(f" ({report['n_failed']} failed, {report['n_missing_truth']} without ground truth)")
    print(f"  Kendall tau-b   {fmt_ci(report['kendall_tau'])}")
    print(f"  Spearman        {fmt_ci(report['spearman'])}")
    print(f"  precision@top5% {fmt_ci(report['precision_at_5'])}")
    print(f"  tau in top 10%  {fmt_ci(report['tau_top_10'])}")
    print(f"  regret          {fmt_num(report['regret'])} accuracy points")
    cost = payload["cost"]
    print(
        f"  cost per arch   {cost['seconds_per_arch']:.3g} s on {cost['device']}; "
        f"{cost['train_macs_per_arch']:.3g} training + {cost['eval_macs_per_arch']:.3g} evaluation multiply-adds"
    )
    failures = payload["metadata"].get("failures", [])
    for failure in failures[:SHOWN_FAILURES]:
        print(f"  failed: arch {failure['arch']}: {failure['reason']}")
    if len(failures) > SHOWN_FAILURES:
        print(f"  ... and {len(failures) - SHOWN_FAILURES} more failed archs (all of them under --json)")
    return 0
