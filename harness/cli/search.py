"""`bpebench search ALGO`: run a NAS searcher with an estimator under a budget over many seeds, report ground truth."""

from __future__ import annotations

import argparse
import collections
import math

import estimators
import searchers
from harness.cli.common import add_dataset_option, add_groundtruth_option, open_groundtruth, print_json
from harness.dataset_info import RESOLUTION
from harness.train import TrainConfig
from searchers.base import DEFAULT_MAX_STALL, DEFAULT_MAX_STEPS
from searchers.darts import NB201_SEARCH, DartsConfig
from searchers.run import SearchSpec, run

SEARCHER_OPTIONS = {
    "population": ("rea",),
    "sample_size": ("rea",),
    "lr": ("reinforce",),
    "ema_momentum": ("reinforce",),
}
TRAIN_OPTIONS = ("channels", "cells", "epochs", "batch_size", "fraction")
DARTS_OPTIONS = (*TRAIN_OPTIONS, "resolution", "data_root", "synthetic", "device")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "search",
        help="run a NAS searcher with an estimator under a budget, over seeds",
        description="Searchers: " + "; ".join(f"{e.name}: {e.summary}" for e in searchers.entries()),
    )
    parser.add_argument("algo", metavar="ALGO", help=f"searcher: {', '.join(searchers.names())}")
    parser.add_argument(
        "--estimator", help="estimator the searcher queries (not for darts-*; list: `bpebench estimate -h`)"
    )
    parser.add_argument("--budget", type=float, required=True, help="search budget in seconds (estimator cost or wall)")
    parser.add_argument("--seeds", type=int, default=10, help="number of seeds, 0..N-1 (default: 10)")
    add_dataset_option(parser)
    add_groundtruth_option(parser)
    parser.add_argument("--workers", type=int, default=1, help="seeds run in this many processes (default: 1)")
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
    parser.add_argument("--fresh", action="store_true", help="discard stored seeds of this setting instead of resuming")
    parser.add_argument("--json", action="store_true", help="print one JSON object")

    rea = parser.add_argument_group("rea")
    rea.add_argument("--population", type=int, help="population size (default: 10)")
    rea.add_argument("--sample-size", type=int, help="tournament size (default: 3)")
    rl = parser.add_argument_group("reinforce")
    rl.add_argument("--lr", type=float, help="Adam learning rate of the policy (default: 0.01)")
    rl.add_argument("--ema-momentum", type=float, help="momentum of the reward baseline (default: 0.9)")
    darts = parser.add_argument_group("darts-v1, darts-v2 (supernet training budget; defaults: NB201's setting)")
    darts.add_argument("--channels", type=int, help=f"base width C (default: {NB201_SEARCH.channels})")
    darts.add_argument("--cells", type=int, help=f"cells per stage N (default: {NB201_SEARCH.cells})")
    darts.add_argument("--epochs", type=int, help=f"search epochs (default: {NB201_SEARCH.epochs})")
    darts.add_argument("--batch-size", type=int, help=f"batch size (default: {NB201_SEARCH.batch_size})")
    darts.add_argument("--resolution", type=int, help="image size in px (default: the dataset's)")
    darts.add_argument("--fraction", type=float, help="share of the train split used (default: 1)")
    darts.add_argument("--data-root", help="folder holding the datasets (default: $BPEBENCH_DATA_ROOT or shared data)")
    darts.add_argument("--synthetic", type=int, help="search on this many synthetic train images instead")
    darts.add_argument("--device", help="'auto' (default), 'cpu', 'cuda', ...")
    parser.set_defaults(handler=_search)


def _search(args: argparse.Namespace) -> int:
    spec = _spec(args)
    if args.seeds < 1:
        raise ValueError(f"--seeds must be at least 1, got {args.seeds}")
    with open_groundtruth(args) as gt:
        report = run(spec, gt, range(args.seeds), workers=args.workers, resume=not args.fresh, progress=not args.json)
    payload = report.to_dict()
    if args.json:
        print_json(payload)
        return 0
    _print(payload)
    return 0


def _spec(args: argparse.Namespace) -> SearchSpec:
    entry = searchers.entry(args.algo)
    if args.estimator is not None:
        estimators.entry(args.estimator)
    if not (math.isfinite(args.budget) and args.budget > 0):
        raise ValueError(f"--budget must be a number of seconds > 0, got {args.budget:g}")
    options: dict = {}
    for name, owners in SEARCHER_OPTIONS.items():
        value = getattr(args, name)
        if value is None:
            continue
        if args.algo not in owners:
            raise ValueError(f"--{name.replace('_', '-')} applies to {', '.join(owners)} only, not {args.algo}")
        options["momentum" if name == "ema_momentum" else name] = value
    given = {name: getattr(args, name) for name in DARTS_OPTIONS if getattr(args, name) is not None}
    if not entry.uses_estimator:
        options["config"] = _darts_config(args, given)
    elif given:
        flags = ", ".join(f"--{n.replace('_', '-')}" for n in given)
        raise ValueError(f"{flags} appl{'ies' if len(given) == 1 else 'y'} to darts-v1 and darts-v2 only")
    return SearchSpec(args.algo, args.estimator, args.dataset, args.budget, options, args.max_steps, args.max_stall)


def _darts_config(args: argparse.Namespace, given: dict) -> DartsConfig:
    train_fields = {k: v for k, v in given.items() if k in TRAIN_OPTIONS}
    train = TrainConfig(
        **{
            "epochs": NB201_SEARCH.epochs,
            "batch_size": NB201_SEARCH.batch_size,
            "lr": NB201_SEARCH.lr,
            "resolution": given.get("resolution", RESOLUTION[args.dataset]),
            "device": given.get("device", "auto"),
            **train_fields,
        }
    )
    return DartsConfig(train=train, data_root=given.get("data_root"), synthetic=given.get("synthetic", 0))


def _print(payload: dict) -> None:
    estimator = f" with {payload['estimator']}" if payload["estimator"] else ""
    print(
        f"{payload['searcher']}{estimator} on {payload['dataset']}, budget {payload['budget']:g} s, "
        f"{len(payload['seeds'])} seeds ({payload['resumed']} resumed from {payload['store']})"
    )
    print(f"  {payload['target']:<40} {_fmt(payload['mean'], payload['std'])}  (n={payload['n']})")
    if payload.get("test_target"):
        test = _fmt(payload["test_mean"], payload["test_std"])
        print(f"  {payload['test_target']:<40} {test}  (n={payload['test_n']})")
    print(
        f"  search cost {payload['mean_cost']:.0f} s per seed (total {payload['total_cost']:.0f} s), "
        f"{payload['mean_queries']:.1f} archs paid for per seed"
    )
    for arch, count in collections.Counter(payload["arch_strings"]).most_common(3):
        print(f"  chosen {count:>4}x  {arch}")


def _fmt(mean: float, std: float) -> str:
    return "n/a" if mean is None or math.isnan(mean) else f"{mean:.2f} +- {std:.2f}"
