"""`bpebench mip`: Minimum Importance Pruning over a BPE space, against random search and baselines at equal budget."""

from __future__ import annotations

import argparse
import hashlib
import json
import shlex
from pathlib import Path

from harness import paths, records
from harness.app.cli import COMMANDS
from harness.app.cli.common import add_dataset_option, add_groundtruth_option, open_groundtruth
from harness.estimation import Execution
from harness.store import Store


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "mip",
        help=COMMANDS["mip"],
        description="Each iteration samples cheap BPE configs, measures their Kendall tau against ground truth on a "
        "fixed arch sample, ranks the free dimensions by importance (random-forest fANOVA) and fixes the least "
        "important one to its cheapest value. Results go through the resumable store: rerun the same command to "
        "resume a killed run.",
    )
    parser.add_argument("--space", default="cpu", help="'cpu', 'gpu' or a TOML file of dimension value lists")
    add_groundtruth_option(parser)
    add_dataset_option(parser)
    parser.add_argument("--archs", default="50", help="sample size of unique archs, 'unique' or i,j,k (default: 50)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the arch sample, training and MIP (default: 0)")
    parser.add_argument(
        "--budget", type=float, default=3000.0, help="seconds of evaluation cost per method (default: 3000)"
    )
    parser.add_argument("--per-iteration", type=int, default=4, help="configs sampled per iteration (default: 4)")
    parser.add_argument("--beta", type=float, default=1.0, help="sampling weight = predicted cost^-beta (default: 1)")
    parser.add_argument("--importance", default="fanova", help="fanova, impurity or permutation (default: fanova)")
    parser.add_argument("--trees", type=int, default=64, help="trees of the random forest (default: 64)")
    parser.add_argument("--cost-cap", type=float, help="chosen BPE = highest tau costing at most this many seconds")
    parser.add_argument("--eval-split", default="x-valid", help="split BPEs score archs on (default: x-valid)")
    parser.add_argument("--target", help="ground truth SPLIT[:METRIC[:HP[:SEED]]] (default: mean 200-epoch x-valid)")
    parser.add_argument("--no-random-search", action="store_true", help="skip the random-search baseline")
    parser.add_argument(
        "--presets",
        default="bpe1,bpe2",
        help="BPE presets run as baselines when predicted within budget ('' for none; default: bpe1,bpe2)",
    )
    parser.add_argument("--store", metavar="PATH", help="results store (default: <cache>/results.h5)")
    parser.add_argument(
        "--data-root", metavar="PATH", help="datasets folder (default: $BPEBENCH_DATA_ROOT, else the shared data)"
    )
    parser.add_argument("--workers", type=int, help="local worker processes (default: one per core)")
    parser.add_argument("--scheduler", metavar="ADDRESS", help="Dask scheduler tcp://HOST:PORT")
    parser.add_argument("--out", metavar="PATH", help="run record JSON (default: <cache>/mip/<run key>.json)")
    parser.add_argument("--markdown", metavar="PATH", help="also write the report as Markdown here")
    parser.add_argument("--quiet", action="store_true", help="no progress bars or per-config lines")
    parser.set_defaults(handler=_mip)


def experiment_from_args(args: argparse.Namespace):
    from harness.app.mip_experiment import MIPExperiment

    return MIPExperiment(
        space=args.space,
        dataset=args.dataset,
        archs=args.archs,
        seed=args.seed,
        budget=args.budget,
        per_iteration=args.per_iteration,
        beta=args.beta,
        importance=args.importance,
        n_trees=args.trees,
        cost_cap=args.cost_cap,
        eval_split=args.eval_split,
        target=args.target,
        random_search=not args.no_random_search,
        presets=tuple(p.strip() for p in args.presets.split(",") if p.strip()),
    )


def command(args: argparse.Namespace) -> str:
    """The `bpebench mip` command line that reproduces this run."""
    parts = [
        "bpebench",
        "mip",
        "--space",
        args.space,
        "--dataset",
        args.dataset,
        "--archs",
        args.archs,
        "--seed",
        str(args.seed),
        "--budget",
        f"{args.budget:g}",
        "--per-iteration",
        str(args.per_iteration),
        "--beta",
        f"{args.beta:g}",
        "--importance",
        args.importance,
        "--trees",
        str(args.trees),
        "--eval-split",
        args.eval_split,
        "--presets",
        args.presets,
    ]
    optional = {
        "--cost-cap": args.cost_cap,
        "--target": args.target,
        "--groundtruth": args.groundtruth,
        "--data-root": args.data_root,
        "--workers": args.workers,
        "--store": args.store,
    }
    for flag, value in optional.items():
        if value is not None:
            parts += [flag, f"{value:g}" if isinstance(value, float) else str(value)]
    if args.no_random_search:
        parts.append("--no-random-search")
    return shlex.join(parts)


def _mip(args: argparse.Namespace) -> int:
    from harness.app.mip_experiment import run_experiment
    from harness.app.mip_report import render

    experiment = experiment_from_args(args)
    if args.workers is not None and args.workers < 1:
        raise ValueError(f"--workers must be at least 1, got {args.workers}")
    key = hashlib.sha256(json.dumps(experiment.to_dict(), sort_keys=True).encode()).hexdigest()[:12]
    out = records.check_output(Path(args.out) if args.out else paths.cache_dir() / "mip" / f"{key}.json", "--out")
    if args.markdown:
        records.check_output(args.markdown, "--markdown")
    log = (lambda _: None) if args.quiet else (lambda line: print(line, flush=True))
    with open_groundtruth(args) as gt, Store(args.store) as store:
        execution = Execution(args.data_root, store, args.workers, args.scheduler, progress=not args.quiet)
        record = run_experiment(experiment, gt, execution, log=log)
    record["command"] = command(args)
    record["provenance"] = records.collect()
    records.write_atomic(out, json.dumps(records.strict_json(record), indent=1, sort_keys=True) + "\n")
    report = render(record, record["command"])
    if args.markdown:
        records.write_atomic(Path(args.markdown).expanduser(), report + "\n")
    print(report)
    print(f"run record: {out}")
    return 0
