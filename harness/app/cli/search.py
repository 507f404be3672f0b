"""`bpebench search ALGO`: run a NAS searcher with an estimator under a budget over many seeds, report ground truth."""

from __future__ import annotations

import argparse
import collections
import math
import os
from dataclasses import replace

import estimators
import searchers
from harness.app.cli import COMMANDS
from harness.app.cli.common import add_dataset_option, add_groundtruth_option, open_groundtruth, print_json
from harness.app.cli.options import (
    OPTION,
    SCHEDULER_ENV,
    SEARCHER_OPTION,
    add_execution_flags,
    add_option_flags,
    entry_config,
    given_options,
)
from harness.app.search_runs import SearchSpec, run
from harness.datasets import RESOLUTION
from searchers.base import DEFAULT_MAX_STALL, DEFAULT_MAX_STEPS, DEFAULT_PROTOCOL, PROTOCOLS
from searchers.darts import FIXED_FIELDS, NB201_SEARCH, TRAIN_FIELDS, DartsConfig

DARTS_ONLY = ("synthetic", "device")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "search",
        help=COMMANDS["search"],
        description="Searchers: " + "; ".join(f"{e.name}: {e.summary}" for e in searchers.entries()),
    )
    parser.add_argument("algo", metavar="ALGO", help=f"searcher: {', '.join(searchers.names())}")
    parser.add_argument(
        "--estimator", help="estimator the searcher queries (not for darts-*; list: `bpebench estimate -h`)"
    )
    parser.add_argument(
        "--budget",
        type=float,
        help="search budget in seconds of estimator cost (DARTS: wall seconds); required unless --queries is given",
    )
    parser.add_argument(
        "--queries", type=int, help="end each search after this many paid queries (compare estimators at equal archs)"
    )
    parser.add_argument("--seeds", type=int, default=10, help="number of seeds, 0..N-1 (default: 10)")
    add_dataset_option(parser)
    add_groundtruth_option(parser)
    parser.add_argument("--workers", type=int, default=1, help="seeds run in this many processes (default: 1)")
    parser.add_argument(
        "--scheduler", metavar="ADDR", help=f"run seeds on a Dask scheduler tcp://HOST:PORT (default: ${SCHEDULER_ENV})"
    )
    parser.add_argument(
        "--max-steps",
        type=int,
        default=DEFAULT_MAX_STEPS,
        help=f"stop a black-box search after this many queries, cached ones included (default: {DEFAULT_MAX_STEPS})",
    )
    parser.add_argument(
        "--max-stall",
        type=int,
        default=DEFAULT_MAX_STALL,
        help=f"stop a black-box search after this many cached queries in a row (default: {DEFAULT_MAX_STALL})",
    )
    parser.add_argument(
        "--protocol",
        choices=PROTOCOLS,
        default=DEFAULT_PROTOCOL,
        help="nb201: every query paid (repeats too), a random trial per query, NB201's REA and REINFORCE (default); "
        "dedup: repeated archs free from the run's cache, one fixed trial per arch",
    )
    parser.add_argument("--fresh", action="store_true", help="discard stored seeds of this setting instead of resuming")
    parser.add_argument("--json", action="store_true", help="print one JSON object")

    add_option_flags(
        parser, [e for e in searchers.entries() if e.options and not e.live], "options of the searcher", SEARCHER_OPTION
    )
    add_option_flags(parser, [e for e in estimators.entries() if e.options], "options of the estimator queried")
    add_execution_flags(parser, ("data_root",))
    darts = parser.add_argument_group(
        "darts-v1, darts-v2: the bpe options above set the supernet's training budget (defaults: NB201's DARTS "
        f"setting, {NB201_SEARCH.epochs} epochs, batch {NB201_SEARCH.batch_size}, lr {NB201_SEARCH.lr}, "
        f"C={NB201_SEARCH.channels}, N={NB201_SEARCH.cells}, the dataset's image size)"
    )
    darts.add_argument("--synthetic", type=int, help="search on this many synthetic train images instead")
    darts.add_argument("--device", help="'auto' (default), 'cpu', 'cuda', ...")
    parser.add_argument("--dry-run", action="store_true", help="check, print the estimated time and exit")
    parser.set_defaults(handler=_search)


def _search(args: argparse.Namespace) -> int:
    from harness.app.plan import describe_seconds, search_seconds

    spec = _spec(args)
    if args.seeds < 1:
        raise ValueError(f"--seeds must be at least 1, got {args.seeds}")
    scheduler = args.scheduler or os.environ.get(SCHEDULER_ENV) or None
    with open_groundtruth(args) as gt:
        spec.check(gt)
        predicted = search_seconds(spec, gt, args.seeds)
        if not args.json or args.dry_run:
            workers = args.workers or 1
            print(f"estimated time for {args.seeds} seeds: {describe_seconds(predicted, workers)}", flush=True)
        if args.dry_run:
            return 0
        report = run(
            spec,
            gt,
            range(args.seeds),
            workers=args.workers,
            resume=not args.fresh,
            progress=not args.json,
            scheduler=scheduler,
        )
    payload = report.to_dict()
    if args.json:
        print_json(payload)
        return 0
    _print(payload)
    return 0


def _spec(args: argparse.Namespace) -> SearchSpec:
    entry = searchers.entry(args.algo)
    estimator = estimators.entry(args.estimator) if args.estimator is not None else None
    budget = _budget(args)
    options = given_options(entry, args, SEARCHER_OPTION, searchers.entries())
    darts_flags = [f"--{name}" for name in DARTS_ONLY if getattr(args, name) is not None]
    estimator_options: dict = {}
    if entry.live:
        options["config"] = _darts_config(args)
    elif darts_flags:
        raise ValueError(f"{', '.join(darts_flags)} appl{'ies' if len(darts_flags) == 1 else 'y'} to darts-* only")
    elif estimator is not None and (config := entry_config(estimator, args)) is not None:
        estimator_options = {"config": config}
    if args.execution_data_root is not None and not entry.live and (estimator is None or not estimator.live):
        raise ValueError(f"--data-root applies to darts-* and live estimators, not to {args.estimator}")
    return SearchSpec(
        args.algo,
        args.estimator,
        args.dataset,
        budget,
        options,
        args.max_steps,
        args.max_stall,
        args.queries,
        estimator_options,
        args.protocol,
        args.execution_data_root,
    )


def _budget(args: argparse.Namespace) -> float:
    if args.queries is not None and args.queries < 1:
        raise ValueError(f"--queries must be at least 1, got {args.queries}")
    if args.budget is None:
        if args.queries is None:
            raise ValueError("give --budget SECONDS, --queries N, or both")
        return math.inf
    if not (math.isfinite(args.budget) and args.budget > 0):
        raise ValueError(f"--budget must be a number of seconds > 0, got {args.budget:g}")
    return args.budget


def _darts_config(args: argparse.Namespace) -> DartsConfig:
    if args.preset is not None:
        raise ValueError("--preset names a BPE for estimators; set a DARTS budget with --epochs, --channels, ...")
    for name in FIXED_FIELDS:
        if getattr(args, OPTION + name, None) is not None:
            flag = name.replace("_", "-")
            raise ValueError(f"--{flag} does not apply to DARTS here (fp32, no cutout, own schedule, no eval split)")
    given = {name: getattr(args, OPTION + name, None) for name in TRAIN_FIELDS}
    given = {name: value for name, value in given.items() if value is not None}
    train = replace(NB201_SEARCH, **({"resolution": RESOLUTION[args.dataset]} | given))
    return DartsConfig(
        train=train, data_root=args.execution_data_root, synthetic=args.synthetic or 0, device=args.device or "auto"
    )


def _print(payload: dict) -> None:
    estimator = f" with {payload['estimator']}" if payload["estimator"] else ""
    limits = [f"budget {payload['budget']:g} s"] if math.isfinite(payload["budget"]) else []
    if payload["max_queries"]:
        limits.append(f"at most {payload['max_queries']} archs")
    print(
        f"{payload['searcher']}{estimator} on {payload['dataset']}, {' and '.join(limits)}, protocol "
        f"{payload['protocol']}, {len(payload['seeds'])} seeds ({payload['resumed']} resumed from {payload['store']})"
    )
    print(f"  {payload['target']:<40} {_fmt(payload['mean'], payload['std'])} %  (n={payload['n']})")
    if payload.get("test_target"):
        test = _fmt(payload["test_mean"], payload["test_std"])
        print(f"  {payload['test_target']:<40} {test} %  (n={payload['test_n']})")
    if reference := payload["nb201_reference"]:
        print(
            f"  NB201 Table 5: {reference['mean']:.2f} +- {reference['std']:.2f} (n={reference['n']}); Welch t = z = "
            f"{reference['t']:+.2f}, df {reference['df']:.0f}, p = {reference['p']:.3g}"
        )
    print(
        f"  search cost per seed: {_cost(payload['mean_cost'])} on {payload['cost_device']}, "
        f"{payload['mean_macs']:.3g} multiply-adds; {payload['mean_queries']:.1f} archs paid for per seed"
    )
    for arch, count in collections.Counter(payload["arch_strings"]).most_common(3):
        print(f"  chosen {count:>4}x  {arch}")


def _cost(seconds: float) -> str:
    return f"{seconds / 3600:.2f} h" if seconds >= 3600 else f"{seconds:.3g} s"


def _fmt(mean: float, std: float) -> str:
    return "n/a" if mean is None or math.isnan(mean) else f"{mean:.2f} +- {std:.2f}"
